import test from 'ava';
import { hostsOf, lanInterfaces } from '../../agent/cameras/lan-interfaces.ts';

test('hostsOf lists the hosts of a subnet without network and broadcast addresses', (t) => {
  const hosts = hostsOf('192.168.10.0/24');
  t.is(hosts.length, 254);
  t.is(hosts[0], '192.168.10.1');
  t.is(hosts.at(-1), '192.168.10.254');
  t.deepEqual(hostsOf('10.0.0.4/30'), ['10.0.0.5', '10.0.0.6']);
  t.deepEqual(hostsOf('10.0.0.7/32'), ['10.0.0.7']);
  t.deepEqual(hostsOf('10.1.2.77/29'), ['10.1.2.73', '10.1.2.74', '10.1.2.75', '10.1.2.76', '10.1.2.77', '10.1.2.78'], 'host bits in the CIDR are masked off');
  t.is(hostsOf('172.16.0.0/16').length, 65534);
});

test('hostsOf refuses what is not an IPv4 CIDR, and sweeps larger than /16', (t) => {
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '300.1.1.1/24', 'fe80::/64', 'x']) t.throws(() => hostsOf(bad), { message: /not an IPv4 CIDR/ });
  t.throws(() => hostsOf('10.0.0.0/8'), { message: /larger than a \/16/ });
});

test('lanInterfaces never includes loopback, and an unknown interface name yields nothing', (t) => {
  t.false(lanInterfaces().some((i) => i.address.startsWith('127.')));
  t.deepEqual(lanInterfaces(['no-such-if0']), []);
});
