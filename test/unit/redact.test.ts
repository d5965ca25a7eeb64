import test from 'ava';
import { redact, registerSecret } from '../../agent/lib/redact.ts';

const CASES: Array<[string, string, string]> = [
  ['URL userinfo', 'connecting to rtsp://admin:hunter22@10.0.0.5:554/stream', 'connecting to rtsp://***@10.0.0.5:554/stream'],
  ['user only', 'rtsp://admin@10.0.0.5/s', 'rtsp://***@10.0.0.5/s'],
  ['two URLs', 'a mqtts://u:p@b:8883 c rtmp://x:y@z/live', 'a mqtts://***@b:8883 c rtmp://***@z/live'],
  ['GStreamer property dump', 'user-pw=s3cr3t-pw user-id=admin', 'user-pw=[redacted] user-id=admin'],
  ['query string token', 'https://ingest/x.ts?token=abcDEF123&seq=4', 'https://ingest/x.ts?token=[redacted]&seq=4'],
  ['JSON field', '{"user":"a","password":"p\\"w","n":1}', '{"user":"a","password":"[redacted]","n":1}'],
  ['HTTP header', 'Authorization: Basic dXNlcjpwYXNz', 'Authorization: [redacted]'],
  ['SRT passphrase', 'srt://host:9000?passphrase=abcdefghij1234', 'srt://host:9000?passphrase=[redacted]'],
  ['stream key', 'streamKey=live_1234_abcd', 'streamKey=[redacted]'],
  ['no credential', 'rtsp://10.0.0.5/stream segment 00000012.ts', 'rtsp://10.0.0.5/stream segment 00000012.ts'],
  ['passwordFile path is not a secret', 'passwordFile=/run/secrets/cam', 'passwordFile=/run/secrets/cam'],
];

for (const [name, input, expected] of CASES) {
  test(`redact: ${name}`, (t) => {
    t.is(redact(input), expected);
  });
}

test('redact: a registered secret disappears wherever it appears, raw, JSON-escaped or URL-encoded', (t) => {
  const secret = 'Pa"ss/w0rd 77';
  registerSecret(secret);
  const lines = [`gst warning: auth failed for ${secret}`, JSON.stringify({ detail: `x ${secret} y` }), `rtsp://h/s?pw=${encodeURIComponent(secret)}`];
  for (const line of lines) {
    const out = redact(line);
    t.false(out.includes(secret), out);
    t.false(out.includes(JSON.stringify(secret).slice(1, -1)), out);
    t.false(out.includes(encodeURIComponent(secret)), out);
    t.true(out.includes('[redacted]'), out);
  }
});

test('redact: very short secrets are not matched literally (they would shred every line)', (t) => {
  registerSecret('ab');
  t.is(redact('tab cab'), 'tab cab');
});
