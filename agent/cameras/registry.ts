/**
 * The camera registry: every camera the box has seen, in SQLite, keyed by identity — the WS-Discovery
 * endpoint reference URN, or the MAC address for cameras without a stable URN — never by IP address. A
 * camera that comes back on another address (DHCP, a re-cabled switch port) is the same camera: its row
 * follows the address and the change is reported.
 */
import { createHash } from 'node:crypto';
import type { Store } from '../store/index.ts';
import { normalizeMac, normalizeUrn } from './ws-discovery-messages.ts';

export interface CameraProfile {
  token: string;
  name: string;
  encoding: string;
  width: number | undefined;
  height: number | undefined;
  fps: number | undefined;
  bitrateKbps: number | undefined;
  /** Without credentials. */
  streamUri: string | undefined;
  snapshotUri: string | undefined;
}

export interface CameraObservation {
  urn?: string | undefined;
  mac?: string | undefined;
  address: string;
  xaddrs: string[];
  name?: string | undefined;
  manufacturer?: string | undefined;
  model?: string | undefined;
  firmware?: string | undefined;
  serial?: string | undefined;
  clockOffsetMs?: number | undefined;
  auth?: 'ws-security' | 'digest' | 'none' | undefined;
  profiles?: CameraProfile[] | undefined;
}

export interface RegisteredCamera {
  key: string;
  cameraId: string;
  urn: string | undefined;
  mac: string | undefined;
  name: string | undefined;
  manufacturer: string | undefined;
  model: string | undefined;
  firmware: string | undefined;
  serial: string | undefined;
  address: string;
  xaddrs: string[];
  clockOffsetMs: number | undefined;
  auth: string | undefined;
  profiles: CameraProfile[];
  firstSeen: string;
  lastSeen: string;
  previousAddress: string | undefined;
  addressChangedAt: string | undefined;
}

export type RegistryChange = 'new' | 'moved' | 'seen';

interface Row {
  key: string;
  camera_id: string;
  urn: string | null;
  mac: string | null;
  name: string | null;
  manufacturer: string | null;
  model: string | null;
  firmware: string | null;
  serial: string | null;
  address: string;
  xaddrs: string;
  clock_offset_ms: number | null;
  auth: string | null;
  profiles: string;
  first_seen: string;
  last_seen: string;
  previous_address: string | null;
  address_changed_at: string | null;
}

/** A MAC in one form (`aa:bb:cc:dd:ee:ff`), or undefined. The rules live with the discovery parser. */
export function normaliseMac(mac: string | undefined): string | undefined {
  return mac ? normalizeMac(mac) : undefined;
}

/** `urn:uuid:<lowercase>` for every uuid spelling (Hello, ProbeMatch and config agree); other URNs as given. */
export function normaliseUrn(urn: string | undefined): string | undefined {
  return urn?.trim() ? normalizeUrn(urn) : undefined;
}

/** The identity key of an observation: its URN, else its MAC; undefined when it has neither. */
export function identityKey(observation: Pick<CameraObservation, 'urn' | 'mac'>): string | undefined {
  const urn = normaliseUrn(observation.urn);
  if (urn) return urn;
  const mac = normaliseMac(observation.mac);
  return mac ? `mac:${mac}` : undefined;
}

/** A short stable id for a discovered camera without a configured one: `cam-` + 8 hex of its identity. */
export function derivedCameraId(key: string): string {
  return `cam-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

function fromRow(row: Row): RegisteredCamera {
  return {
    key: row.key,
    cameraId: row.camera_id,
    urn: row.urn ?? undefined,
    mac: row.mac ?? undefined,
    name: row.name ?? undefined,
    manufacturer: row.manufacturer ?? undefined,
    model: row.model ?? undefined,
    firmware: row.firmware ?? undefined,
    serial: row.serial ?? undefined,
    address: row.address,
    xaddrs: JSON.parse(row.xaddrs) as string[],
    clockOffsetMs: row.clock_offset_ms ?? undefined,
    auth: row.auth ?? undefined,
    profiles: JSON.parse(row.profiles) as CameraProfile[],
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    previousAddress: row.previous_address ?? undefined,
    addressChangedAt: row.address_changed_at ?? undefined,
  };
}

export class CameraRegistry {
  constructor(private readonly store: Store) {}

  /**
   * Records an observation. Looks the camera up by URN first, then by MAC (a camera whose firmware update
   * changed its URN is still the same device), and returns what changed.
   */
  observe(observation: CameraObservation, now = new Date()): { camera: RegisteredCamera; change: RegistryChange } {
    const key = identityKey(observation);
    if (!key) throw new Error(`a camera at ${observation.address} has neither an endpoint URN nor a MAC address: it cannot be identified`);
    const mac = normaliseMac(observation.mac);
    const db = this.store.db;
    return db.transaction(() => {
      const existing =
        (this.store.prepare('SELECT * FROM cameras WHERE key = ? OR urn = ?').get(key, key) as Row | undefined) ??
        (mac ? (this.store.prepare('SELECT * FROM cameras WHERE mac = ? ORDER BY last_seen DESC LIMIT 1').get(mac) as Row | undefined) : undefined);
      const ts = now.toISOString();
      if (!existing) {
        this.store.prepare(
          `INSERT INTO cameras (key, camera_id, urn, mac, name, manufacturer, model, firmware, serial, address, xaddrs,
             clock_offset_ms, auth, profiles, first_seen, last_seen)
           VALUES (@key, @cameraId, @urn, @mac, @name, @manufacturer, @model, @firmware, @serial, @address, @xaddrs,
             @clockOffsetMs, @auth, @profiles, @ts, @ts)`,
        ).run({ ...this.params(observation, mac), key, cameraId: derivedCameraId(key), ts });
        return { camera: this.get(key)!, change: 'new' as const };
      }
      const moved = existing.address !== observation.address;
      this.store.prepare(
        `UPDATE cameras SET urn = coalesce(@urn, urn), mac = coalesce(@mac, mac), name = coalesce(@name, name),
           manufacturer = coalesce(@manufacturer, manufacturer), model = coalesce(@model, model),
           firmware = coalesce(@firmware, firmware), serial = coalesce(@serial, serial), address = @address,
           xaddrs = @xaddrs, clock_offset_ms = coalesce(@clockOffsetMs, clock_offset_ms), auth = coalesce(@auth, auth),
           profiles = CASE WHEN @hasProfiles THEN @profiles ELSE profiles END, last_seen = @ts,
           previous_address = CASE WHEN @moved THEN address ELSE previous_address END,
           address_changed_at = CASE WHEN @moved THEN @ts ELSE address_changed_at END
         WHERE key = @existingKey`,
      ).run({ ...this.params(observation, mac), hasProfiles: observation.profiles ? 1 : 0, moved: moved ? 1 : 0, ts, existingKey: existing.key });
      return { camera: this.get(existing.key)!, change: moved ? ('moved' as const) : ('seen' as const) };
    })();
  }

  get(key: string): RegisteredCamera | undefined {
    const row = this.store.prepare('SELECT * FROM cameras WHERE key = ?').get(key) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** A camera by URN or MAC (the config's `match`). */
  find(match: { urn?: string | undefined; mac?: string | undefined }): RegisteredCamera | undefined {
    const urn = normaliseUrn(match.urn);
    if (urn) {
      const row = this.store.prepare('SELECT * FROM cameras WHERE key = ? OR urn = ?').get(urn, urn) as Row | undefined;
      if (row) return fromRow(row);
    }
    const mac = normaliseMac(match.mac);
    if (!mac) return undefined;
    const row = this.store.prepare('SELECT * FROM cameras WHERE mac = ? ORDER BY last_seen DESC LIMIT 1').get(mac) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  list(): RegisteredCamera[] {
    return (this.store.prepare('SELECT * FROM cameras ORDER BY camera_id').all() as Row[]).map(fromRow);
  }

  private params(o: CameraObservation, mac: string | undefined) {
    return {
      urn: normaliseUrn(o.urn) ?? null,
      mac: mac ?? null,
      name: o.name ?? null,
      manufacturer: o.manufacturer ?? null,
      model: o.model ?? null,
      firmware: o.firmware ?? null,
      serial: o.serial ?? null,
      address: o.address,
      xaddrs: JSON.stringify(o.xaddrs),
      clockOffsetMs: o.clockOffsetMs === undefined ? null : Math.round(o.clockOffsetMs),
      auth: o.auth ?? null,
      profiles: JSON.stringify(o.profiles ?? []),
    };
  }
}
