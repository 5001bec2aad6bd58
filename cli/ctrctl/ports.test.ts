import { describe, expect, it } from 'vitest';
import { parsePublish } from './ports.js';

describe("docker's -p specs", () => {
  it('reads every form docker takes', () => {
    expect(parsePublish('80')).toEqual({ hostIp: '', hostPorts: undefined, containerPorts: { start: 80, end: 80 }, proto: 'tcp' });
    expect(parsePublish('8080:80/udp')).toEqual({ hostIp: '', hostPorts: { start: 8080, end: 8080 }, containerPorts: { start: 80, end: 80 }, proto: 'udp' });
    expect(parsePublish('127.0.0.1::80')).toMatchObject({ hostIp: '127.0.0.1', hostPorts: undefined });
    expect(parsePublish('[::1]:8080:80')).toMatchObject({ hostIp: '::1', hostPorts: { start: 8080, end: 8080 } });
    expect(parsePublish('8000-8010:80-90/sctp')).toMatchObject({ hostPorts: { start: 8000, end: 8010 }, containerPorts: { start: 80, end: 90 }, proto: 'sctp' });
    expect(parsePublish('8000-8010:80')).toMatchObject({ hostPorts: { start: 8000, end: 8010 } });
  });

  it("refuses the rest with docker's messages", () => {
    expect(() => parsePublish('abc')).toThrow('invalid containerPort: abc');
    expect(() => parsePublish('99999')).toThrow('invalid containerPort: 99999');
    expect(() => parsePublish('x:80')).toThrow('invalid hostPort: x');
    expect(() => parsePublish('80/icmp')).toThrow('invalid proto: icmp');
    expect(() => parsePublish('1.2.3:80:80')).toThrow('invalid IP address: 1.2.3');
    expect(() => parsePublish('1:2:3:4')).toThrow(/invalid port format/);
    expect(() => parsePublish('8080:')).toThrow(/no port specified/);
    expect(() => parsePublish('8000-8002:80-90')).toThrow(/invalid ranges/);
  });
});
