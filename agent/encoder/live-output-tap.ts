/**
 * Pure: the live tap — a branch of a recording (or transcode output) pipeline that copies its encoded stream,
 * video and AAC audio, as MPEG-TS over loopback UDP to the camera's live output pipelines
 * (live-output-builder.ts), one port per destination.
 *
 * Why a tap and not the destination itself in the recording pipeline: srtsink and rtmp2sink post errors when
 * their peer goes away (measured: rtmp2sink "connection closed remotely", srtsink "Connection does not exist"
 * when nobody answers), and an error ends the pipeline that holds them — a dead destination would stop the
 * recording. The tap cannot fail that way:
 * - its queues are leaky (a slow muxer drops its oldest data, the `tee` never waits on it) and bounded in time
 *   and bytes (whichever is reached first: a stream without timestamps still has a bound);
 * - multiudpsink has `sync=false async=false` and sends datagrams on loopback: nobody listening is no error
 *   (unconnected UDP sockets get no ICMP port-unreachable; measured: no bus warning or error in a run with the
 *   port closed), and a send never blocks.
 * mpegtsmux `alignment=7`: seven 188-byte packets per datagram (1316 bytes), the usual MPEG-TS over UDP size;
 * without it a whole access unit goes into one datagram and keyframes exceed the 64 KiB UDP limit.
 */

/** Name of the tap's muxer (the receiving side is `udpsrc` in the live output pipeline). */
export const LIVE_TAP_MUX = 'livetap';
const AUDIO_TEE = 'livetap_audio';
/** 2 s or 8 MiB of stream, then the oldest is dropped: live is real time, late data is worthless. */
const TAP_QUEUE = 'queue leaky=downstream max-size-buffers=0 max-size-bytes=8388608 max-size-time=2000000000';
/** How the builders' AAC branch ends: the tap's tee goes in front of it. */
const AUDIO_TAIL = ' ! queue ! mux.audio_0';

export interface LiveTap {
  /** The audio branch to use instead of the builder's own (a tee added), or the builder's own when there is no tap. */
  audio: string;
  /** Elements to append to the launch string ('' without live outputs). */
  branch: string;
}

/**
 * The tap of a pipeline whose encoded video leaves `tee name=<videoTee>` and whose AAC (if any) is
 * `audioBranch`, a branch ending in `! queue ! mux.audio_0`. Without ports the pipeline is left as it is.
 */
export function liveTap(ports: readonly number[] | undefined, audioBranch: string, videoTee = 't'): LiveTap {
  if (!ports || ports.length === 0) return { audio: audioBranch, branch: '' };
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`live tap port ${port} is not a UDP port`);
  }
  if (audioBranch !== '' && !audioBranch.endsWith(AUDIO_TAIL)) {
    // The builders' audio code changed shape: say so loudly rather than stream without sound.
    throw new Error(`the audio branch does not end in "${AUDIO_TAIL.trim()}": the live tap cannot take the audio`);
  }
  const clients = ports.map((port) => `127.0.0.1:${port}`).join(',');
  let branch = ` mpegtsmux name=${LIVE_TAP_MUX} alignment=7 ! multiudpsink clients=${clients} sync=false async=false`;
  branch += ` ${videoTee}. ! ${TAP_QUEUE} ! ${LIVE_TAP_MUX}.`;
  if (audioBranch === '') return { audio: '', branch };
  branch += ` ${AUDIO_TEE}. ! ${TAP_QUEUE} ! ${LIVE_TAP_MUX}.`;
  return { audio: `${audioBranch.slice(0, -AUDIO_TAIL.length)} ! tee name=${AUDIO_TEE}${AUDIO_TAIL}`, branch };
}
