// Vendor styles for the virtual camera. Only behaviour seen in public material is claimed for a vendor;
// everything else stays generic. The basis of each claim is in `basis` and in the comments.
// Limits: the paired RTSP server has one mount, so every profile of a camera plays the same stream; the
// vendor look is in the path and the query string (which gst-rtsp-server ignores when it matches a mount).
import { createHash } from 'node:crypto';

export type Vendor = 'generic' | 'hikvision' | 'dahua' | 'axis' | 'hanwha';
export const VENDORS: readonly Vendor[] = ['generic', 'hikvision', 'dahua', 'axis', 'hanwha'];

/** Which prefixes the camera writes; see soap.ts for the sets. */
export type PrefixSet = 'standard' | 'hikvision' | 'dahua' | 'odd';

export interface ProfileSlot {
  /** 0-based position in GetProfiles. */
  index: number;
  /** 1-based video input (a multi-channel encoder has several). */
  channel: number;
  /** 0 = main stream, 1 = sub stream. */
  stream: number;
  encoding: 'H264' | 'H265';
  width: number;
  height: number;
}

export interface VendorPreset {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  /** Path of the RTSP mount (the virtual camera serves it when the caller gives no path). */
  rtspPath: string;
  profileToken(slot: ProfileSlot): string;
  profileName(slot: ProfileSlot): string;
  /** Query string of the stream URI without `?`; '' for none. */
  streamQuery(token: string, slot: ProfileSlot): string;
  /** Path and query of the snapshot URL on the camera's HTTP server. */
  snapshotPath(token: string, slot: ProfileSlot): string;
  prefixes: PrefixSet;
  /**
   * Media1's schema has no H.265 (tt:VideoEncoding is JPEG|MPEG4|H264). 'attribute': list the encoder with
   * <Encoding>H264</Encoding> and an encoding="H265" attribute; 'omit': leave the encoder out (Media2 tells it).
   */
  media1H265: 'attribute' | 'omit';
  /** MediaUri Timeout and InvalidAfterConnect of GetStreamUri (Media1). */
  uriTimeout: string;
  invalidAfterConnect: boolean;
  digestRealm(serial: string): string;
  /** 'spec': the ONVIF PRE_AUTH set answers without credentials; 'time-only': only GetSystemDateAndTime. */
  preAuth: 'time-only' | 'spec';
  /** First three MAC bytes; undefined: a locally administered MAC (02:…). */
  macPrefix?: string;
  /** The endpoint UUID ends in the MAC's 12 hex digits. */
  uuidEndsInMac: boolean;
  serialNumber(macHex: string, uuid: string): string;
  /** Scopes carry onvif://www.onvif.org/MAC/…. */
  macScope: boolean;
  metadataVersion: number;
  basis: string;
}

const channelSuffix = (slot: ProfileSlot, text: string): string => (slot.channel === 1 ? text : `Channel${slot.channel}_${text}`);

export const PRESETS: Record<Vendor, VendorPreset> = {
  generic: {
    manufacturer: 'Venuebox',
    model: 'VirtualCam-1',
    firmwareVersion: '1.0.0',
    rtspPath: '/stream',
    profileToken: (s) => (s.channel === 1 ? ['profile_main', 'profile_sub'][s.stream] ?? `profile_${s.index + 1}` : `profile_${s.channel}_${s.stream === 0 ? 'main' : 'sub'}`),
    profileName: (s) => channelSuffix(s, s.stream === 0 ? 'MainStream' : 'SubStream'),
    streamQuery: () => '',
    snapshotPath: (token) => `/onvif/snapshot?token=${encodeURIComponent(token)}`,
    prefixes: 'standard',
    media1H265: 'omit',
    uriTimeout: 'PT60S',
    invalidAfterConnect: false,
    digestRealm: () => 'VirtualCam',
    preAuth: 'time-only',
    uuidEndsInMac: false,
    serialNumber: (_mac, uuid) => `VC${uuid.replace(/-/g, '').slice(0, 10).toUpperCase()}`,
    macScope: true,
    metadataVersion: 1,
    basis: 'Not a vendor: the ONVIF Core/Media specs as written, with a MAC scope.',
  },
  hikvision: {
    manufacturer: 'HIKVISION',
    model: 'DS-2CD2143G2-I',
    firmwareVersion: 'V5.7.3 build 220112',
    rtspPath: '/Streaming/Channels/101',
    // Profile_1/Profile_2 named mainStream/subStream; channel naming beyond 1 is invented.
    profileToken: (s) => `Profile_${s.index + 1}`,
    profileName: (s) => channelSuffix(s, s.stream === 0 ? 'mainStream' : 'subStream'),
    streamQuery: (token) => `transportmode=unicast&profile=${token}`,
    snapshotPath: (token) => `/onvif-http/snapshot?${token}`,
    prefixes: 'hikvision',
    media1H265: 'attribute',
    uriTimeout: 'PT60S',
    invalidAfterConnect: false,
    digestRealm: () => 'IP Camera',
    preAuth: 'time-only',
    macPrefix: '68:6d:bc',
    uuidEndsInMac: true,
    serialNumber: (mac) => `DS-2CD2143G2-I20220101AAWR${mac.slice(-9).toUpperCase()}`,
    macScope: true,
    metadataVersion: 10,
    basis:
      'Public GetProfiles/GetStreamUri replies (env: envelope prefix, Profile_1 "mainStream", ' +
      '/Streaming/Channels/101?transportmode=unicast&amp;profile=Profile_1, Timeout PT60S, /onvif-http/snapshot?Profile_1, ' +
      'Media1 encoder with encoding="H265" attribute but <Encoding>H264); a public ProbeMatch fixture with MAC scope, ' +
      'MetadataVersion 10 and an endpoint UUID ending in the MAC (68:6d:bc…); realm "IP Camera" from the onvif package\'s notes.',
  },
  dahua: {
    manufacturer: 'Dahua',
    model: 'IPC-HFW2431S-S-S2',
    firmwareVersion: '2.800.0000000.16.R, Build Date 2021-04-20',
    rtspPath: '/cam/realmonitor',
    profileToken: (s) => `MediaProfile${String(s.index).padStart(5, '0')}`,
    profileName: (s) => `MediaProfile_Channel${s.channel}_${s.stream === 0 ? 'MainStream' : `SubStream${s.stream}`}`,
    streamQuery: (_token, s) => `channel=${s.channel}&subtype=${s.stream}&unicast=true&proto=Onvif`,
    snapshotPath: (_token, s) => `/onvifsnapshot/media_service/snapshot?channel=${s.channel}&subtype=${s.stream}`,
    prefixes: 'dahua',
    media1H265: 'omit',
    uriTimeout: 'PT0S',
    invalidAfterConnect: true,
    digestRealm: (serial) => `Login to ${createHash('md5').update(serial).digest('hex')}`,
    preAuth: 'spec',
    uuidEndsInMac: false,
    serialNumber: (mac) => `7G0${mac.slice(-8).toUpperCase()}PAZ`,
    macScope: false,
    metadataVersion: 1,
    basis:
      'go2rtc\'s Dahua fixtures (s:/sc: envelope with <s:Header/>, standalone="yes", cam/realmonitor?channel=1&amp;subtype=1' +
      '&amp;unicast=true&amp;proto=Onvif, InvalidAfterConnect true, Timeout PT0S, onvifsnapshot/media_service/snapshot) and its table ' +
      'of Dahua answering GetCapabilities/GetServices without auth; public fixtures with MediaProfile00000 ' +
      '"MediaProfile_Channel1_MainStream"; a logged 401 from such a camera with realm "Login to <hex>". Model name illustrative.',
  },
  axis: {
    manufacturer: 'AXIS',
    model: 'P1455-LE',
    firmwareVersion: '10.12.114',
    rtspPath: '/onvif-media/media.amp',
    profileToken: (s) => `profile_${s.index + 1}_${s.encoding.toLowerCase()}`,
    profileName: (s) => `profile_${s.index + 1} ${s.encoding.toLowerCase()}`,
    streamQuery: (token) => `profile=${token}&sessiontimeout=60&streamtype=unicast`,
    snapshotPath: (_token, s) => `/onvif-cgi/jpg/image.cgi?resolution=${s.width}x${s.height}&compression=30`,
    prefixes: 'standard',
    media1H265: 'omit',
    uriTimeout: 'PT60S',
    invalidAfterConnect: false,
    digestRealm: (serial) => `AXIS_${serial}`,
    preAuth: 'time-only',
    macPrefix: 'ac:cc:8e',
    uuidEndsInMac: false,
    // Axis serial numbers are the MAC in upper-case hex.
    serialNumber: (mac) => mac.toUpperCase(),
    macScope: false,
    metadataVersion: 1,
    basis:
      'Public client logs and fixtures: profiles "profile_1 h264" (token profile_1_h264), ' +
      'onvif-media/media.amp?profile=profile_1_h264&sessiontimeout=60&streamtype=unicast, ' +
      'onvif-cgi/jpg/image.cgi?resolution=WxH&compression=30, manufacturer "AXIS" with serial = MAC (ACCC8E…), ' +
      'HTTP Digest realm "AXIS_<serial>". Model name illustrative. ' +
      'Replay protection (a reused nonce fails) is applied to every preset.',
  },
  hanwha: {
    manufacturer: 'Hanwha Vision',
    model: 'XND-A9084RV',
    firmwareVersion: '25.01.00_20250328_R392',
    rtspPath: '/onvif/profile2/media.smp',
    profileToken: (s) => `${s.channel === 1 ? '' : `${s.channel}_`}profile${s.stream + 1}`,
    profileName: (s) => channelSuffix(s, s.stream === 0 ? 'MainStream' : 'SubStream'),
    streamQuery: () => '',
    snapshotPath: (token) => `/onvif/snapshot?token=${encodeURIComponent(token)}`,
    prefixes: 'standard',
    media1H265: 'omit',
    uriTimeout: 'PT60S',
    invalidAfterConnect: false,
    digestRealm: () => 'VirtualCam',
    preAuth: 'time-only',
    uuidEndsInMac: false,
    serialNumber: (mac) => `ZVVF70GY${mac.slice(-5).toUpperCase()}`,
    macScope: false,
    metadataVersion: 1,
    basis:
      'Only the device information (ONVIF conformance FeatureList: "Hanwha Vision", XND-A9084RV, firmware ' +
      '25.01.00_20250328_R392) and the RTSP path style rtsp://IP:554/onvif/profileN/media.smp are backed by public ' +
      'material; profile tokens, names, realm and everything else are generic.',
  },
};
