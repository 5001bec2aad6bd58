// The --format subset of Go templates, and Go's tabwriter with docker's settings.
import { describe, expect, it } from 'vitest';
import { goString, parseFormat, renderFormat, tabwrite } from './go-template.js';

const rows = [
  { Repository: 'busybox', Tag: 'latest', ID: 'a416a98b71e2', Labels: { b: '2', a: '1' }, Cmd: ['sh', '-c', 'true'], Nil: null },
  { Repository: '127.0.0.1:5000/test/app', Tag: '<none>', ID: '0123456789ab', Labels: {}, Cmd: [], Nil: null },
];
const headers = { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID' };

describe('--format templates', () => {
  it('fields, literal text, and one rendering per item', () => {
    expect(renderFormat(parseFormat('{{.Repository}}:{{.Tag}} {{.ID}}'), rows, headers)).toBe(
      'busybox:latest a416a98b71e2\n127.0.0.1:5000/test/app:<none> 0123456789ab\n',
    );
  });

  it('values print as Go prints them; json, pipes and functions', () => {
    const one = [rows[0]];
    expect(renderFormat(parseFormat('{{.Cmd}} {{.Labels}} {{.Nil}}'), one, {})).toBe('[sh -c true] map[a:1 b:2] <nil>\n');
    expect(renderFormat(parseFormat('{{json .Cmd}}|{{json .Labels}}'), one, {})).toBe('["sh","-c","true"]|{"b":"2","a":"1"}\n');
    expect(renderFormat(parseFormat('{{.Repository | upper}} {{join .Cmd ","}} {{lower "ABC"}} {{truncate .ID 4}}'), one, {})).toBe(
      'BUSYBOX sh,-c,true abc a416\n',
    );
    expect(JSON.parse(renderFormat(parseFormat('json'), one, {}))).toEqual(rows[0]);
    expect(renderFormat(parseFormat('a  {{- " b " -}}  c'), one, {})).toBe('a b c\n');
    expect(renderFormat(parseFormat('{{/* a comment */}}x'), one, {})).toBe('x\n');
  });

  it('table: a header row of the columns headings, columns aligned by the tabwriter', () => {
    expect(renderFormat(parseFormat('table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}'), rows, headers)).toBe(
      [
        'REPOSITORY                TAG       IMAGE ID',
        'busybox                   latest    a416a98b71e2',
        '127.0.0.1:5000/test/app   <none>    0123456789ab',
        '',
      ].join('\n'),
    );
    expect(renderFormat(parseFormat('table {{.ID}}'), [], headers)).toBe('IMAGE ID\n');
  });

  it('refuses what it cannot render, as a usage error naming the problem', () => {
    expect(() => parseFormat('{{if .ID}}x{{end}}')).toThrow(/not supported/);
    expect(() => parseFormat('{{.ID')).toThrow(/unclosed action/);
    expect(() => parseFormat('{{nosuch .ID}}')).toThrow(/function "nosuch" not defined/);
    expect(() => renderFormat(parseFormat('{{.Nope}}'), rows, headers)).toThrow(/can't evaluate field Nope/);
  });

  it("Go's %v of values", () => {
    expect(goString(undefined)).toBe('<no value>');
    expect(goString([1, 'a', [true]])).toBe('[1 a [true]]');
    expect(goString({ z: { y: 1 } })).toBe('map[z:map[y:1]]');
  });
});

describe('tabwriter', () => {
  it('pads cells to the widest plus 3, at least 10; the last cell of a line is left alone', () => {
    expect(tabwrite('a\tbb\tc\nxxxxxxxxxxxx\ty\tlast\n')).toBe('a              bb        c\nxxxxxxxxxxxx   y         last\n');
  });

  it('an empty last cell leaves the padding of the one before, as docker history shows', () => {
    expect(tabwrite('A\tB\n1\t\n')).toBe('A         B\n1         \n');
  });

  it('a line without a column ends that column block', () => {
    expect(tabwrite('a\tb\nno tabs here\nlonger cell\tc\n')).toBe('a         b\nno tabs here\nlonger cell   c\n');
  });
});
