import test from 'ava';
import { createHash } from 'node:crypto';
import { CameraProtocolError } from '../../agent/cameras/errors.ts';
import { buildDigestAuthorization, parseDigestChallenge, type DigestChallenge } from '../../agent/cameras/http-digest.ts';

/** The params of an Authorization header, unquoted (a test-side reader, independent of the code under test). */
function params(header: string): Record<string, string> {
  assertDigest(header);
  const out: Record<string, string> = {};
  for (const m of header.slice('Digest '.length).matchAll(/([a-z]+)=("((?:[^"\\]|\\.)*)"|[^,\s]*)/g)) {
    out[m[1] ?? ''] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : (m[2] ?? '');
  }
  return out;
}
function assertDigest(header: string): void {
  if (!header.startsWith('Digest ')) throw new Error(`not a Digest header: ${header}`);
}

// --- RFC 2617 §3.5 -----------------------------------------------------------------------------------

test('RFC 2617 §3.5 example: Mufasa / "Circle Of Life" → 6629fae49393a05397450978507c4ef1', (t) => {
  // The RFC's challenge and Authorization example. The cnonce is 0a4f113b (recomputed with Python's hashlib:
  // MD5(HA1:nonce:00000001:0a4f113b:auth:HA2) with HA1 = MD5(Mufasa:testrealm@host.com:Circle Of Life)).
  const challenge = parseDigestChallenge(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  );
  t.deepEqual(challenge, {
    realm: 'testrealm@host.com',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    qop: ['auth', 'auth-int'],
    opaque: '5ccc069c403ebaf9f0171e9517f40e41',
    stale: false,
    userhash: false,
  });
  if (challenge === undefined) return;
  const header = buildDigestAuthorization({
    challenge, username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html', nc: 1, cnonce: '0a4f113b',
  });
  t.deepEqual(params(header), {
    username: 'Mufasa',
    realm: 'testrealm@host.com',
    nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
    uri: '/dir/index.html',
    qop: 'auth',
    nc: '00000001',
    cnonce: '0a4f113b',
    response: '6629fae49393a05397450978507c4ef1',
    opaque: '5ccc069c403ebaf9f0171e9517f40e41',
  });
});

// --- RFC 7616 §3.9.1 ---------------------------------------------------------------------------------

const RFC7616_SHA256 =
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, ' +
  'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
const RFC7616_MD5 =
  'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, ' +
  'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"';
const RFC7616_REQUEST = {
  username: 'Mufasa',
  password: 'Circle of Life',
  method: 'GET',
  uri: '/dir/index.html',
  nc: 1,
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
};

// Expected responses as printed in RFC 7616 §3.9.1, recomputed with Python's hashlib while writing this test.
const RFC7616: Array<[string, string | string[], string, string]> = [
  ['SHA-256 chosen over MD5 when both are offered (two header values)', [RFC7616_SHA256, RFC7616_MD5], 'SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ['SHA-256 chosen over MD5 when both are in one header value', `${RFC7616_MD5}, ${RFC7616_SHA256}`, 'SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ['MD5 alone', RFC7616_MD5, 'MD5', '8ca523f5e9506fed4657c9700eebdbec'],
];
for (const [name, header, algorithm, response] of RFC7616) {
  test(`RFC 7616 §3.9.1: ${name}`, (t) => {
    const challenge = parseDigestChallenge(header);
    t.is(challenge?.algorithm, algorithm);
    t.deepEqual(challenge?.qop, ['auth', 'auth-int']);
    if (challenge === undefined) return;
    const p = params(buildDigestAuthorization({ challenge, ...RFC7616_REQUEST }));
    t.is(p.response, response);
    t.is(p.algorithm, algorithm);
    t.is(p.opaque, 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS');
    t.is(p.cnonce, RFC7616_REQUEST.cnonce);
  });
}

// --- Camera challenges ------------------------------------------------------------------------------

const CHALLENGES: Array<[string, string | string[] | undefined, Partial<DigestChallenge> | undefined]> = [
  [
    'gSOAP IPC (HTTP 401 to an ONVIF POST, blog.csdn.net/highprox capture)',
    'Digest realm="IPC_CAM", qop="auth,auth-int", nonce="62fb10dacb7f08aa31fc", opaque="025f3a12"',
    { realm: 'IPC_CAM', nonce: '62fb10dacb7f08aa31fc', qop: ['auth', 'auth-int'], opaque: '025f3a12', stale: false },
  ],
  [
    'empty opaque and quoted stale (796t.com ONVIF digest walkthrough)',
    'Digest realm="Login to 2J01018PAA00816",qop="auth",nonce="b252aWYtZGlnZXN0OjQzMjUzMzYxMzMw", opaque="", stale="false"',
    { realm: 'Login to 2J01018PAA00816', nonce: 'b252aWYtZGlnZXN0OjQzMjUzMzYxMzMw', qop: ['auth'], opaque: '', stale: false },
  ],
  [
    'Dahua HTTP API: unquoted upper-case stale (qna.habr.com quote of the Dahua API guide)',
    'Digest realm="DH_00408CA5EA04", nonce="000562fdY631973ef04f77a3ede7c1832ff48720ef95ad", stale=FALSE, qop="auth"',
    { realm: 'DH_00408CA5EA04', nonce: '000562fdY631973ef04f77a3ede7c1832ff48720ef95ad', qop: ['auth'], stale: false },
  ],
  ['stale=TRUE, quoted algorithm, unquoted base64 nonce', 'Digest realm="r", nonce=ab/c+d==, algorithm="MD5", stale=TRUE', { nonce: 'ab/c+d==', algorithm: 'MD5', stale: true, qop: [] }],
  ['Digest then Basic in one header', 'Digest realm="x", nonce="n1", qop="auth", Basic realm="x"', { realm: 'x', nonce: 'n1' }],
  ['Basic then Digest in two headers', ['Basic realm="x"', 'Digest realm="y", nonce="n2"'], { realm: 'y', nonce: 'n2', qop: [] }],
  ['an escaped quote in the realm', 'Digest realm="a \\"b\\" c", nonce="n"', { realm: 'a "b" c' }],
  ['Basic only', 'Basic realm="IP Camera"', undefined],
  ['Bearer token68', 'Bearer abc==', undefined],
  ['no header', undefined, undefined],
  ['Digest without nonce is not a usable challenge', 'Digest realm="x"', undefined],
];
for (const [name, header, expected] of CHALLENGES) {
  test(`parseDigestChallenge: ${name}`, (t) => {
    const challenge = parseDigestChallenge(header);
    if (expected === undefined) t.is(challenge, undefined);
    else t.like(challenge, expected);
  });
}

test('parseDigestChallenge: only unknown algorithms → unsupported', (t) => {
  const err = t.throws(() => parseDigestChallenge('Digest realm="x", nonce="n", algorithm=SHA-1'), { instanceOf: CameraProtocolError });
  t.is(err?.kind, 'unsupported');
});

// --- Variants, expected values computed independently with Python's hashlib -------------------------

const base: DigestChallenge = { realm: 'IPC_CAM', nonce: '62fb10dacb7f08aa31fc', qop: ['auth'], stale: false, userhash: false };

test('MD5-sess: HA1 = MD5(MD5(user:realm:pass):nonce:cnonce)', (t) => {
  // python: ha1=md5(md5('admin:IPC_CAM:hunter2')+':62fb10dacb7f08aa31fc:0a4f113b'); ha2=md5('POST:/onvif/device_service')
  //         md5(f'{ha1}:62fb10dacb7f08aa31fc:00000001:0a4f113b:auth:{ha2}') → 33f7113219066608545db0781962b65d
  const header = buildDigestAuthorization({
    challenge: { ...base, algorithm: 'MD5-sess' }, username: 'admin', password: 'hunter2', method: 'POST', uri: '/onvif/device_service', cnonce: '0a4f113b',
  });
  t.like(params(header), { algorithm: 'MD5-sess', response: '33f7113219066608545db0781962b65d', nc: '00000001' });
});

test('qop=auth-int hashes the body; nc counts in hex', (t) => {
  // python: ha2=md5('POST:/onvif/device_service:'+md5('<s:Envelope/>'))
  //         md5(f"{md5('admin:IPC_CAM:hunter2')}:62fb10dacb7f08aa31fc:00000002:abcdef:auth-int:{ha2}") → a50585568959a795c9615dd9f58dec37
  const header = buildDigestAuthorization({
    challenge: { ...base, qop: ['auth-int'] }, username: 'admin', password: 'hunter2', method: 'POST', uri: '/onvif/device_service',
    nc: 2, cnonce: 'abcdef', body: '<s:Envelope/>',
  });
  t.like(params(header), { qop: 'auth-int', nc: '00000002', response: 'a50585568959a795c9615dd9f58dec37' });
  t.false('algorithm' in params(header), 'algorithm is echoed only when the server named it');
});

test('RTSP DESCRIBE against an RFC 2069 challenge (no qop): no nc, cnonce or qop', (t) => {
  // python: md5(f"{md5('admin:LIVE555 Streaming Media:12345')}:a1b2c3d4e5:{md5('DESCRIBE:rtsp://192.168.1.64:554/Streaming/Channels/101')}")
  //         → 4f86d2bea565f2e7e0de3698fe374492
  const challenge = parseDigestChallenge('Digest realm="LIVE555 Streaming Media", nonce="a1b2c3d4e5"');
  if (challenge === undefined) return t.fail();
  const header = buildDigestAuthorization({
    challenge, username: 'admin', password: '12345', method: 'DESCRIBE', uri: 'rtsp://192.168.1.64:554/Streaming/Channels/101',
  });
  t.is(
    header,
    'Digest username="admin", realm="LIVE555 Streaming Media", uri="rtsp://192.168.1.64:554/Streaming/Channels/101", ' +
      'nonce="a1b2c3d4e5", response="4f86d2bea565f2e7e0de3698fe374492"',
  );
});

test('userhash=true (RFC 7616 §3.4.4): the username is H(user:realm)', (t) => {
  const header = buildDigestAuthorization({
    challenge: { ...base, realm: 'api@example.org', algorithm: 'SHA-256', userhash: true }, username: 'Mufasa', password: 'x', method: 'GET', uri: '/',
  });
  const p = params(header);
  // python: sha256('Mufasa:api@example.org') → 0a9ed318…
  t.is(p.username, '0a9ed318a424c7024ff890c5575b3c3769cea2f13ccc6c22410f516c68249d4d');
  t.is(p.username, createHash('sha256').update('Mufasa:api@example.org').digest('hex'));
  t.is(p.userhash, 'true');
});

test('a random cnonce when none is given; quotes in the username are escaped', (t) => {
  const a = params(buildDigestAuthorization({ challenge: base, username: 'a"b', password: 'p', method: 'GET', uri: '/' }));
  const b = params(buildDigestAuthorization({ challenge: base, username: 'a"b', password: 'p', method: 'GET', uri: '/' }));
  t.regex(a.cnonce ?? '', /^[0-9a-f]{32}$/);
  t.not(a.cnonce, b.cnonce);
  t.is(a.username, 'a"b');
});

test('a challenge offering only an unknown qop is refused', (t) => {
  const err = t.throws(
    () => buildDigestAuthorization({ challenge: { ...base, qop: ['auth-conf'] }, username: 'u', password: 'p', method: 'GET', uri: '/' }),
    { instanceOf: CameraProtocolError },
  );
  t.is(err?.kind, 'unsupported');
});
