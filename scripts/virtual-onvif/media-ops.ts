// Media (ver10) and Media2 (ver20) operations: profiles, video sources, stream and snapshot URIs.
import { hostPort, type CameraConfig, type ResolvedProfile } from './config.ts';
import { mediaServiceCapabilities, type Operation, type OperationContext } from './device-ops.ts';
import { SoapFault, type Prefixes } from './soap.ts';
import { childText, esc } from './xml.ts';

function findProfile(config: CameraConfig, token: string | undefined): ResolvedProfile {
  const profile = config.profiles.find((p) => p.token === token);
  if (!profile) {
    throw new SoapFault({ code: 'Sender', subcodes: ['InvalidArgVal', 'NoProfile'], reason: `no profile with token ${token ?? '(none)'}` });
  }
  return profile;
}

/** The main profile of a channel gives the size of its video source. */
const sourceOf = (config: CameraConfig, profile: ResolvedProfile): ResolvedProfile =>
  config.profiles.find((p) => p.channel === profile.channel && p.stream === 0) ?? profile;

/**
 * A URI as the camera writes it. The whitespace quirk copies formatted firmware replies (go2rtc's "Dahua
 * formatted" fixture): the URI on its own indented line, so a client must trim and decode `&amp;`.
 */
function uriText(config: CameraConfig, uri: string): string {
  return config.uriWhitespace ? `\n                    ${esc(uri)}\n                ` : esc(uri);
}

const snapshotUrl = (config: CameraConfig, profile: ResolvedProfile): string =>
  `http://${hostPort(config.address, config.httpPort)}${profile.snapshotPath}`;

function sourceConfiguration(t: string, config: CameraConfig, profile: ResolvedProfile, tag: string): string {
  const source = sourceOf(config, profile);
  const uses = config.profiles.filter((p) => p.channel === profile.channel).length;
  return (
    `<${tag} token="VideoSourceConfig_${profile.channel}"><${t}Name>VideoSourceConfig_${profile.channel}</${t}Name>` +
    `<${t}UseCount>${uses}</${t}UseCount><${t}SourceToken>${profile.videoSourceToken}</${t}SourceToken>` +
    `<${t}Bounds x="0" y="0" width="${source.width}" height="${source.height}"></${t}Bounds></${tag}>`
  );
}

function media1Encoder(p: Prefixes, config: CameraConfig, profile: ResolvedProfile): string {
  const t = p.tt;
  let attrs = '';
  if (profile.encoding === 'H265') {
    if (config.preset.media1H265 === 'omit') return '';
    attrs = ' encoding="H265"'; // Hikvision's way around Media1's missing H265 (see presets.ts)
  }
  return (
    `<${t}VideoEncoderConfiguration token="VideoEncoder_${profile.index + 1}"${attrs}><${t}Name>VideoEncoder_${profile.index + 1}</${t}Name>` +
    `<${t}UseCount>1</${t}UseCount><${t}Encoding>H264</${t}Encoding>` +
    `<${t}Resolution><${t}Width>${profile.width}</${t}Width><${t}Height>${profile.height}</${t}Height></${t}Resolution>` +
    `<${t}Quality>5</${t}Quality><${t}RateControl><${t}FrameRateLimit>${profile.fps}</${t}FrameRateLimit>` +
    `<${t}EncodingInterval>1</${t}EncodingInterval><${t}BitrateLimit>${profile.bitrateKbps}</${t}BitrateLimit></${t}RateControl>` +
    `<${t}H264><${t}GovLength>${profile.fps}</${t}GovLength><${t}H264Profile>Main</${t}H264Profile></${t}H264>` +
    `<${t}Multicast><${t}Address><${t}Type>IPv4</${t}Type><${t}IPv4Address>0.0.0.0</${t}IPv4Address></${t}Address>` +
    `<${t}Port>0</${t}Port><${t}TTL>1</${t}TTL><${t}AutoStart>false</${t}AutoStart></${t}Multicast>` +
    `<${t}SessionTimeout>PT60S</${t}SessionTimeout></${t}VideoEncoderConfiguration>`
  );
}

function media1Profile(p: Prefixes, config: CameraConfig, profile: ResolvedProfile, tag = 'Profiles'): string {
  return (
    `<${p.trt}${tag} token="${esc(profile.token)}" fixed="true"><${p.tt}Name>${esc(profile.name)}</${p.tt}Name>` +
    sourceConfiguration(p.tt, config, profile, `${p.tt}VideoSourceConfiguration`) +
    media1Encoder(p, config, profile) +
    `</${p.trt}${tag}>`
  );
}

const getProfiles1: Operation = (_req, { p, config }) =>
  `<${p.trt}GetProfilesResponse>${config.profiles.map((pr) => media1Profile(p, config, pr)).join('')}</${p.trt}GetProfilesResponse>`;

const getProfile1: Operation = (req, { p, config }) => {
  const profile = findProfile(config, childText(req, 'ProfileToken'));
  return `<${p.trt}GetProfileResponse>${media1Profile(p, config, profile, 'Profile')}</${p.trt}GetProfileResponse>`;
};

const getVideoSources: Operation = (_req, { p, config }) => {
  const t = p.tt;
  const mains = config.profiles.filter((pr) => pr.stream === 0);
  const sources = mains.map(
    (pr) =>
      `<${p.trt}VideoSources token="${pr.videoSourceToken}"><${t}Framerate>${pr.fps}</${t}Framerate>` +
      `<${t}Resolution><${t}Width>${pr.width}</${t}Width><${t}Height>${pr.height}</${t}Height></${t}Resolution></${p.trt}VideoSources>`,
  );
  return `<${p.trt}GetVideoSourcesResponse>${sources.join('')}</${p.trt}GetVideoSourcesResponse>`;
};

function mediaUri(p: Prefixes, config: CameraConfig, uri: string, stream: boolean): string {
  const t = p.tt;
  const invalidAfterConnect = stream && config.preset.invalidAfterConnect;
  return (
    `<${p.trt}MediaUri><${t}Uri>${uriText(config, uri)}</${t}Uri><${t}InvalidAfterConnect>${invalidAfterConnect}</${t}InvalidAfterConnect>` +
    `<${t}InvalidAfterReboot>false</${t}InvalidAfterReboot><${t}Timeout>${stream ? config.preset.uriTimeout : 'PT0S'}</${t}Timeout></${p.trt}MediaUri>`
  );
}

/** Only unicast RTSP is served (the paired gst-rtsp-server does RTP over UDP and over the RTSP connection). */
function refuseSetup(what: string): never {
  throw new SoapFault({ code: 'Sender', subcodes: ['InvalidArgVal', 'InvalidStreamSetup'], reason: `${what} is not supported` });
}

const getStreamUri1: Operation = (req, { p, config }) => {
  const stream = childText(req, 'StreamSetup', 'Stream') ?? 'RTP-Unicast';
  const protocol = childText(req, 'StreamSetup', 'Transport', 'Protocol') ?? 'RTSP';
  if (stream !== 'RTP-Unicast') refuseSetup(`stream ${stream}`);
  if (!['RTSP', 'UDP', 'TCP'].includes(protocol)) refuseSetup(`transport ${protocol}`);
  const profile = findProfile(config, childText(req, 'ProfileToken'));
  return `<${p.trt}GetStreamUriResponse>${mediaUri(p, config, profile.streamUri, true)}</${p.trt}GetStreamUriResponse>`;
};

const getSnapshotUri1: Operation = (req, { p, config }) => {
  const profile = findProfile(config, childText(req, 'ProfileToken'));
  return `<${p.trt}GetSnapshotUriResponse>${mediaUri(p, config, snapshotUrl(config, profile), false)}</${p.trt}GetSnapshotUriResponse>`;
};

const mediaCaps =
  (media2: boolean): Operation =>
  (_req, ctx: OperationContext) => {
    const m = media2 ? ctx.p.tr2 : ctx.p.trt;
    return `<${m}GetServiceCapabilitiesResponse>${mediaServiceCapabilities(ctx, media2)}</${m}GetServiceCapabilitiesResponse>`;
  };

export const MEDIA_OPERATIONS: Record<string, Operation> = {
  GetProfiles: getProfiles1,
  GetProfile: getProfile1,
  GetVideoSources: getVideoSources,
  GetStreamUri: getStreamUri1,
  GetSnapshotUri: getSnapshotUri1,
  GetServiceCapabilities: mediaCaps(false),
};

// ---- Media2 ----

function media2Encoder(p: Prefixes, profile: ResolvedProfile): string {
  const t = p.tt;
  return (
    `<${p.tr2}VideoEncoder token="VideoEncoder_${profile.index + 1}" GovLength="${profile.fps}" Profile="Main">` +
    `<${t}Name>VideoEncoder_${profile.index + 1}</${t}Name><${t}UseCount>1</${t}UseCount><${t}Encoding>${profile.encoding}</${t}Encoding>` +
    `<${t}Resolution><${t}Width>${profile.width}</${t}Width><${t}Height>${profile.height}</${t}Height></${t}Resolution>` +
    `<${t}RateControl ConstantBitRate="false"><${t}FrameRateLimit>${profile.fps}</${t}FrameRateLimit>` +
    `<${t}BitrateLimit>${profile.bitrateKbps}</${t}BitrateLimit></${t}RateControl><${t}Quality>5</${t}Quality></${p.tr2}VideoEncoder>`
  );
}

const getProfiles2: Operation = (req, { p, config }) => {
  const token = childText(req, 'Token');
  const profiles = token === undefined ? config.profiles : [findProfile(config, token)];
  // Media2 §5.2.1: configurations are included only for the Types asked for ("All" for every one).
  const types = new Set(req.children.filter((c) => c.local === 'Type').flatMap((c) => c.text.trim().split(/\s+/)));
  const source = types.has('All') || types.has('VideoSource');
  const encoder = types.has('All') || types.has('VideoEncoder');
  const body = profiles.map(
    (pr) =>
      `<${p.tr2}Profiles token="${esc(pr.token)}" fixed="true"><${p.tr2}Name>${esc(pr.name)}</${p.tr2}Name>` +
      (source || encoder
        ? `<${p.tr2}Configurations>${source ? sourceConfiguration(p.tt, config, pr, `${p.tr2}VideoSource`) : ''}` +
          `${encoder ? media2Encoder(p, pr) : ''}</${p.tr2}Configurations>`
        : '') +
      `</${p.tr2}Profiles>`,
  );
  return `<${p.tr2}GetProfilesResponse>${body.join('')}</${p.tr2}GetProfilesResponse>`;
};

const getVideoSourceConfigurations2: Operation = (_req, { p, config }) => {
  const mains = config.profiles.filter((pr) => pr.stream === 0);
  const body = mains.map((pr) => sourceConfiguration(p.tt, config, pr, `${p.tr2}Configurations`)).join('');
  return `<${p.tr2}GetVideoSourceConfigurationsResponse>${body}</${p.tr2}GetVideoSourceConfigurationsResponse>`;
};

const getStreamUri2: Operation = (req, { p, config }) => {
  // Media2 protocols: RtspUnicast, RtspMulticast, RTSP (RTP over the RTSP connection), RtspOverHttp.
  const protocol = childText(req, 'Protocol') ?? 'RTSP';
  if (!['RTSP', 'RtspUnicast'].includes(protocol)) refuseSetup(`protocol ${protocol}`);
  const profile = findProfile(config, childText(req, 'ProfileToken'));
  return `<${p.tr2}GetStreamUriResponse><${p.tr2}Uri>${uriText(config, profile.streamUri)}</${p.tr2}Uri></${p.tr2}GetStreamUriResponse>`;
};

const getSnapshotUri2: Operation = (req, { p, config }) => {
  const profile = findProfile(config, childText(req, 'ProfileToken'));
  return `<${p.tr2}GetSnapshotUriResponse><${p.tr2}Uri>${uriText(config, snapshotUrl(config, profile))}</${p.tr2}Uri></${p.tr2}GetSnapshotUriResponse>`;
};

export const MEDIA2_OPERATIONS: Record<string, Operation> = {
  GetProfiles: getProfiles2,
  GetVideoSourceConfigurations: getVideoSourceConfigurations2,
  GetStreamUri: getStreamUri2,
  GetSnapshotUri: getSnapshotUri2,
  GetServiceCapabilities: mediaCaps(true),
};
