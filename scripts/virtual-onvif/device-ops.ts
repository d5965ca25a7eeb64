// Device service (ver10/device/wsdl) operations: pure functions from a request element to a response body.
import type { CameraConfig } from './config.ts';
import { hostPort, scopesOf } from './config.ts';
import { SoapFault, type Prefixes } from './soap.ts';
import { NS, esc, type XmlElement } from './xml.ts';

export interface OperationContext {
  config: CameraConfig;
  p: Prefixes;
  /** The camera's clock: true time plus the configured offset. */
  cameraNow(): number;
}

export type Operation = (request: XmlElement, ctx: OperationContext) => string;

/** Service versions reported by GetServices (ONVIF release numbering since 16.12: YY.MM). */
const VERSION = { major: 21, minor: 12 };

export const serviceUrl = (config: CameraConfig, service: 'device' | 'media' | 'media2'): string =>
  `http://${hostPort(config.address, config.httpPort)}/onvif/${service}_service`;

function dateTime(p: Prefixes, tag: string, at: Date): string {
  const t = p.tt;
  return (
    `<${t}${tag}><${t}Time><${t}Hour>${at.getUTCHours()}</${t}Hour><${t}Minute>${at.getUTCMinutes()}</${t}Minute>` +
    `<${t}Second>${at.getUTCSeconds()}</${t}Second></${t}Time><${t}Date><${t}Year>${at.getUTCFullYear()}</${t}Year>` +
    `<${t}Month>${at.getUTCMonth() + 1}</${t}Month><${t}Day>${at.getUTCDate()}</${t}Day></${t}Date></${t}${tag}>`
  );
}

const getSystemDateAndTime: Operation = (_req, { p, config, cameraNow }) => {
  const now = new Date(cameraNow());
  const t = p.tt;
  // A camera whose clock is off is one nobody pointed at NTP: it says Manual.
  return (
    `<${p.tds}GetSystemDateAndTimeResponse><${p.tds}SystemDateAndTime>` +
    `<${t}DateTimeType>${config.clockOffsetMs === 0 ? 'NTP' : 'Manual'}</${t}DateTimeType>` +
    `<${t}DaylightSavings>false</${t}DaylightSavings><${t}TimeZone><${t}TZ>UTC0</${t}TZ></${t}TimeZone>` +
    `${dateTime(p, 'UTCDateTime', now)}${dateTime(p, 'LocalDateTime', now)}` +
    `</${p.tds}SystemDateAndTime></${p.tds}GetSystemDateAndTimeResponse>`
  );
};

const getDeviceInformation: Operation = (_req, { p, config }) =>
  `<${p.tds}GetDeviceInformationResponse><${p.tds}Manufacturer>${esc(config.manufacturer)}</${p.tds}Manufacturer>` +
  `<${p.tds}Model>${esc(config.model)}</${p.tds}Model><${p.tds}FirmwareVersion>${esc(config.firmwareVersion)}</${p.tds}FirmwareVersion>` +
  `<${p.tds}SerialNumber>${esc(config.serialNumber)}</${p.tds}SerialNumber><${p.tds}HardwareId>${esc(config.hardwareId)}</${p.tds}HardwareId>` +
  `</${p.tds}GetDeviceInformationResponse>`;

const flags = (names: string[], value: boolean, t: string): string => names.map((n) => `<${t}${n}>${value}</${t}${n}>`).join('');

function deviceCapabilities({ p, config }: OperationContext): string {
  const t = p.tt;
  return (
    `<${t}Device><${t}XAddr>${serviceUrl(config, 'device')}</${t}XAddr>` +
    `<${t}Network>${flags(['IPFilter', 'ZeroConfiguration', 'IPVersion6', 'DynDNS'], false, t)}</${t}Network>` +
    `<${t}System><${t}DiscoveryResolve>false</${t}DiscoveryResolve><${t}DiscoveryBye>true</${t}DiscoveryBye>` +
    `${flags(['RemoteDiscovery', 'SystemBackup', 'SystemLogging', 'FirmwareUpgrade'], false, t)}` +
    `<${t}SupportedVersions><${t}Major>2</${t}Major><${t}Minor>60</${t}Minor></${t}SupportedVersions>` +
    `<${t}SupportedVersions><${t}Major>${VERSION.major}</${t}Major><${t}Minor>${VERSION.minor}</${t}Minor></${t}SupportedVersions></${t}System>` +
    `<${t}IO><${t}InputConnectors>0</${t}InputConnectors><${t}RelayOutputs>0</${t}RelayOutputs></${t}IO>` +
    `<${t}Security>${flags(['TLS1.1', 'TLS1.2', 'OnboardKeyGeneration', 'AccessPolicyConfig', 'X.509Token', 'SAMLToken', 'KerberosToken', 'RELToken'], false, t)}</${t}Security>` +
    `</${t}Device>`
  );
}

function mediaCapabilities({ p, config }: OperationContext): string {
  const t = p.tt;
  return (
    `<${t}Media><${t}XAddr>${serviceUrl(config, 'media')}</${t}XAddr><${t}StreamingCapabilities>` +
    `<${t}RTPMulticast>false</${t}RTPMulticast><${t}RTP_TCP>true</${t}RTP_TCP><${t}RTP_RTSP_TCP>true</${t}RTP_RTSP_TCP>` +
    `</${t}StreamingCapabilities><${t}Extension><${t}ProfileCapabilities><${t}MaximumNumberOfProfiles>${config.profiles.length}` +
    `</${t}MaximumNumberOfProfiles></${t}ProfileCapabilities></${t}Extension></${t}Media>`
  );
}

const getCapabilities: Operation = (req, ctx) => {
  const asked = req.children.filter((c) => c.local === 'Category').map((c) => c.text.trim());
  const all = asked.length === 0 || asked.includes('All');
  const parts = [
    all || asked.includes('Device') ? deviceCapabilities(ctx) : '',
    all || asked.includes('Media') ? mediaCapabilities(ctx) : '',
  ].join('');
  if (!parts) {
    // Core spec: a category the device lacks is env:Receiver/ter:ActionNotSupported/ter:NoSuchService.
    throw new SoapFault({ code: 'Receiver', subcodes: ['ActionNotSupported', 'NoSuchService'], reason: `no ${asked.join(', ')} service` });
  }
  const { p } = ctx;
  return `<${p.tds}GetCapabilitiesResponse><${p.tds}Capabilities>${parts}</${p.tds}Capabilities></${p.tds}GetCapabilitiesResponse>`;
};

function deviceServiceCapabilities({ p, config }: OperationContext): string {
  const auth = config.auth;
  return (
    `<${p.tds}Capabilities><${p.tds}Network IPFilter="false" ZeroConfiguration="false" IPVersion6="false" DynDNS="false"/>` +
    `<${p.tds}Security TLS1.0="false" TLS1.1="false" TLS1.2="false" OnboardKeyGeneration="false" AccessPolicyConfig="false" ` +
    `X.509Token="false" SAMLToken="false" KerberosToken="false" RELToken="false" ` +
    `UsernameToken="${auth !== 'digest'}" HttpDigest="${auth !== 'ws-security'}"/>` +
    `<${p.tds}System DiscoveryResolve="false" DiscoveryBye="true" RemoteDiscovery="false" SystemBackup="false" ` +
    `SystemLogging="false" FirmwareUpgrade="false"/></${p.tds}Capabilities>`
  );
}

export function mediaServiceCapabilities({ p, config }: OperationContext, media2: boolean): string {
  const m = media2 ? p.tr2 : p.trt;
  const n = config.profiles.length;
  const streaming = media2
    ? `<${m}StreamingCapabilities RTSPStreaming="true" RTPMulticast="false" RTP_RTSP_TCP="true"/>`
    : `<${m}StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true"/>`;
  return `<${m}Capabilities SnapshotUri="true" Rotation="false"><${m}ProfileCapabilities MaximumNumberOfProfiles="${n}"/>${streaming}</${m}Capabilities>`;
}

const getServices: Operation = (req, ctx) => {
  const { p, config } = ctx;
  const withCaps = req.children.find((c) => c.local === 'IncludeCapability')?.text.trim() === 'true';
  const services: Array<[string, string, string]> = [
    [NS.device, serviceUrl(config, 'device'), deviceServiceCapabilities(ctx)],
    [NS.media, serviceUrl(config, 'media'), mediaServiceCapabilities(ctx, false)],
  ];
  if (config.media2) services.push([NS.media2, serviceUrl(config, 'media2'), mediaServiceCapabilities(ctx, true)]);
  const body = services
    .map(
      ([ns, url, caps]) =>
        `<${p.tds}Service><${p.tds}Namespace>${ns}</${p.tds}Namespace><${p.tds}XAddr>${url}</${p.tds}XAddr>` +
        (withCaps ? `<${p.tds}Capabilities>${caps}</${p.tds}Capabilities>` : '') +
        `<${p.tds}Version><${p.tt}Major>${VERSION.major}</${p.tt}Major><${p.tt}Minor>${VERSION.minor}</${p.tt}Minor></${p.tds}Version></${p.tds}Service>`,
    )
    .join('');
  return `<${p.tds}GetServicesResponse>${body}</${p.tds}GetServicesResponse>`;
};

const getServiceCapabilities: Operation = (_req, ctx) =>
  `<${ctx.p.tds}GetServiceCapabilitiesResponse>${deviceServiceCapabilities(ctx)}</${ctx.p.tds}GetServiceCapabilitiesResponse>`;

const getNetworkInterfaces: Operation = (_req, { p, config }) => {
  const t = p.tt;
  return (
    `<${p.tds}GetNetworkInterfacesResponse><${p.tds}NetworkInterfaces token="eth0"><${t}Enabled>true</${t}Enabled>` +
    `<${t}Info><${t}Name>eth0</${t}Name><${t}HwAddress>${config.mac}</${t}HwAddress><${t}MTU>1500</${t}MTU></${t}Info>` +
    `<${t}IPv4><${t}Enabled>true</${t}Enabled><${t}Config><${t}Manual><${t}Address>${esc(config.address)}</${t}Address>` +
    `<${t}PrefixLength>24</${t}PrefixLength></${t}Manual><${t}DHCP>false</${t}DHCP></${t}Config></${t}IPv4>` +
    `</${p.tds}NetworkInterfaces></${p.tds}GetNetworkInterfacesResponse>`
  );
};

const getScopes: Operation = (_req, { p, config }) => {
  const t = p.tt;
  // type/hardware/Profile are fixed by the firmware; name and location are what an installer configures.
  const items = scopesOf(config).map((scope) => {
    const def = /\/(name|location)\//.test(scope) ? 'Configurable' : 'Fixed';
    return `<${p.tds}Scopes><${t}ScopeDef>${def}</${t}ScopeDef><${t}ScopeItem>${esc(scope)}</${t}ScopeItem></${p.tds}Scopes>`;
  });
  return `<${p.tds}GetScopesResponse>${items.join('')}</${p.tds}GetScopesResponse>`;
};

const getHostname: Operation = (_req, { p, config }) =>
  `<${p.tds}GetHostnameResponse><${p.tds}HostnameInformation><${p.tt}FromDHCP>false</${p.tt}FromDHCP>` +
  `<${p.tt}Name>${esc(config.name.replace(/[^A-Za-z0-9-]/g, '-'))}</${p.tt}Name></${p.tds}HostnameInformation></${p.tds}GetHostnameResponse>`;

const getEndpointReference: Operation = (_req, { p, config }) =>
  `<${p.tds}GetEndpointReferenceResponse><${p.tds}GUID>${config.urn}</${p.tds}GUID></${p.tds}GetEndpointReferenceResponse>`;

export const DEVICE_OPERATIONS: Record<string, Operation> = {
  GetSystemDateAndTime: getSystemDateAndTime,
  GetDeviceInformation: getDeviceInformation,
  GetCapabilities: getCapabilities,
  GetServices: getServices,
  GetServiceCapabilities: getServiceCapabilities,
  GetNetworkInterfaces: getNetworkInterfaces,
  GetScopes: getScopes,
  GetHostname: getHostname,
  GetEndpointReference: getEndpointReference,
};

/** ONVIF Core's PRE_AUTH access class: operations a device serves without credentials. */
export const SPEC_PRE_AUTH = new Set(['GetSystemDateAndTime', 'GetCapabilities', 'GetServices', 'GetServiceCapabilities', 'GetHostname', 'GetEndpointReference', 'GetWsdlUrl']);
