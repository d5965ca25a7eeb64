/**
 * What each remote command does on this box (the router in commands.ts validates and answers). Handlers
 * return a small result object or throw; a refusal says what to do instead.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError } from '../config/index.ts';
import { stageConfigUpdate } from '../config/config-update.ts';
import { logTail, setLogLevel, type LogLevel } from '../lib/log.ts';
import { redact } from '../lib/redact.ts';
import type { ClosedSegment, Recorder } from '../encoder/index.ts';
import type { CameraDiscoveryService } from '../cameras/camera-discovery-service.ts';
import type { SegmentUploader } from './uploader.ts';
import { CommandRefused, type CommandHandlers } from './commands.ts';

const run = promisify(execFile);

export interface CommandContext {
  configFile: string;
  configuredLogLevel: LogLevel;
  spoolDir: string;
  recorder: Recorder;
  discovery: CameraDiscoveryService;
  uploader: () => SegmentUploader | undefined;
  /** The events live now (a reboot would cut them). */
  liveEvents: () => ReadonlySet<string>;
  /** Stops the agent cleanly and exits so that systemd starts it again. */
  requestRestart: (reason: string) => void;
  rebootCommand: readonly string[];
  /** The schedule's commands (extend, start-now, stop). */
  scheduleHandlers: Pick<CommandHandlers, 'extend' | 'start-now' | 'stop'>;
}

/** Smaller than this, a segment file cannot hold a decodable picture. */
const TS_MIN_BYTES = 4096;

/** The response goes out before the action that would cut it off (restart, reboot). */
const AFTER_RESPONSE_MS = 500;

export function createCommandHandlers(ctx: CommandContext): CommandHandlers {
  let levelTimer: NodeJS.Timeout | undefined;
  return {
    'restart-pipeline': async ({ streamId }) => {
      const supervisor = ctx.recorder.supervisor(streamId);
      if (!supervisor) {
        const known = ctx.recorder.health().map((p) => p.streamId);
        throw new Error(`no pipeline for stream "${streamId}" (known: ${known.join(', ') || 'none'})`);
      }
      supervisor.restart('restart-pipeline command');
      return { streamId };
    },
    'restart-agent': async () => {
      setTimeout(() => ctx.requestRestart('restart-agent command'), AFTER_RESPONSE_MS).unref();
      return { restarting: true };
    },
    reboot: async ({ force }) => {
      const live = [...ctx.liveEvents()];
      if (live.length > 0 && !force) throw new CommandRefused(`refused: event ${live.join(', ')} is live; send "force": true to reboot anyway`);
      const [command, ...args] = ctx.rebootCommand;
      if (!command) throw new Error('no reboot command configured');
      setTimeout(() => {
        const child = spawn(command, args, { stdio: 'ignore', detached: true });
        child.on('error', () => undefined);
        child.unref();
      }, AFTER_RESPONSE_MS).unref();
      return { rebooting: true, liveEventsCut: live };
    },
    'rescan-cameras': async () => {
      const scan = await ctx.discovery.rescan();
      return { found: scan.cameras.length, cameras: scan.cameras, problems: scan.problems };
    },
    snapshot: async ({ cameraId }) => {
      const uploader = ctx.uploader();
      if (!uploader) throw new Error('no ingest is configured (uplink.url): nowhere to upload a snapshot');
      const jpeg = await snapshotFromRecording(ctx.recorder, ctx.spoolDir, cameraId);
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}.jpg`;
      const url = await uploader.putObject('snapshots', cameraId, name, jpeg, 'image/jpeg');
      return { url: redact(url), bytes: jpeg.length };
    },
    'set-log-level': async ({ level, durationSeconds }) => {
      clearTimeout(levelTimer);
      setLogLevel(level);
      if (durationSeconds !== undefined) {
        levelTimer = setTimeout(() => setLogLevel(ctx.configuredLogLevel), durationSeconds * 1000);
        levelTimer.unref();
      }
      return { level, until: durationSeconds !== undefined ? new Date(Date.now() + durationSeconds * 1000).toISOString() : null };
    },
    'update-config': async ({ config, healthTimeoutSeconds }) => {
      try {
        await stageConfigUpdate(ctx.configFile, config, healthTimeoutSeconds);
      } catch (err) {
        if (err instanceof ConfigError) throw new CommandRefused(`the new config is invalid: ${err.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
        throw err;
      }
      setTimeout(() => ctx.requestRestart('update-config command'), AFTER_RESPONSE_MS).unref();
      return { applied: true, restarting: true, healthTimeoutSeconds };
    },
    'get-logs': async ({ lines }) => ({ lines: logTail(lines) }),
    ...ctx.scheduleHandlers,
  };
}

/**
 * A JPEG of the camera's newest picture, from its recording — no second RTSP session to the camera, no
 * credentials on a command line. The newest closed segment still in the spool is used (a backlog while the
 * uplink is down, or files kept for replays); otherwise the next segment to close is copied the moment it
 * closes (before the uploader may release it: a listener runs synchronously in the recorder's emit). The
 * segment being written is no use: its file lags behind in filesink's buffer.
 */
async function snapshotFromRecording(recorder: Recorder, spoolDir: string, cameraId: string): Promise<Buffer> {
  if (!/^[A-Za-z0-9._-]+$/.test(cameraId)) throw new Error(`not a camera id: ${cameraId}`);
  if (!recorder.supervisor(cameraId)) throw new Error(`camera "${cameraId}" is not recorded on this box`);
  const out = await mkdtemp(join(tmpdir(), 'venuebox-snapshot-'));
  try {
    const copy = join(out, 'segment.ts');
    const names = (await readdir(join(spoolDir, cameraId)).catch(() => [] as string[])).filter((n) => n.endsWith('.ts')).sort();
    // All but the newest file (the open one), newest first.
    let source: string | undefined;
    for (const name of names.slice(0, -1).reverse().slice(0, 2)) {
      try {
        await copyFile(join(spoolDir, cameraId, name), copy);
        // An empty file is a fragment a stopped pipeline opened and never wrote: no picture in it.
        if ((await stat(copy)).size < TS_MIN_BYTES) continue;
        source = name;
        break;
      } catch {
        // Released meanwhile: try the one before, or wait for the next.
      }
    }
    if (source === undefined) {
      const health = recorder.health().find((p) => p.streamId === cameraId);
      const waitMs = 3 * 60_000;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          recorder.off('segment', onSegment);
          reject(new Error(`no segment of camera "${cameraId}" closed within ${waitMs / 1000} s (pipeline ${health?.state ?? 'unknown'})`));
        }, waitMs);
        const onSegment = (segment: ClosedSegment): void => {
          if (segment.streamId !== cameraId) return;
          recorder.off('segment', onSegment);
          clearTimeout(timer);
          try {
            copyFileSync(segment.path, copy);
            resolve();
          } catch (err) {
            reject(err as Error);
          }
        };
        recorder.on('segment', onSegment);
      });
    }
    const jpeg = join(out, 'snapshot.jpg');
    try {
      await run('ffmpeg', ['-v', 'error', '-y', '-i', copy, '-frames:v', '1', '-q:v', '3', jpeg], { timeout: 15_000 });
    } catch (err) {
      throw new Error(`no picture could be decoded: ${String((err as { stderr?: string }).stderr ?? err).trim().split('\n').at(-1)}`);
    }
    return await readFile(jpeg);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
