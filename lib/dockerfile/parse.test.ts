// The classic Dockerfile syntax on real Dockerfiles: directives, continuations, comments, every instruction's
// forms and flags, stages, and errors that name the line and column.
import { describe, expect, it } from 'vitest';
import { parseDockerfile, parseDuration, parseInstruction, rawWords } from './parse.js';

const sinatra = `# This is a comment
FROM ubuntu:14.04
MAINTAINER Kate Smith <ksmith@example.com>
RUN apt-get update && apt-get install -y ruby ruby-dev
RUN gem install sinatra
ADD app.rb /opt/app/
EXPOSE 80
CMD ["ruby", "/opt/app/app.rb"]
`;

const goMultiStage = `# syntax=docker/dockerfile:1
ARG GO_VERSION=1.19
FROM golang:\${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/app ./cmd/app

FROM scratch
COPY --from=build --chown=65534:65534 --chmod=0555 /out/app /app
USER 65534
ENTRYPOINT ["/app"]
`;

const node = `FROM node:18-alpine
ARG NODE_ENV=production APP_PORT
ENV NODE_ENV=\${NODE_ENV} \\
    PORT=3000 \\
    GREETING="hello world"
LABEL org.opencontainers.image.title="web" version=1.0
WORKDIR /usr/src/app
COPY ["package.json", "package-lock.json", "./"]
RUN npm ci \\
# the dev dependencies are left out
    --omit=dev

USER node
VOLUME ["/data", "/cache"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --retries=3 CMD wget -qO- http://localhost:3000/health || exit 1
ONBUILD COPY . /usr/src/app
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
EXPOSE 3000 9229/udp
CMD node server.js
`;

describe('parseDockerfile', () => {
  it("reads the seed documents' example: one stage, the instructions as written", () => {
    const df = parseDockerfile(sinatra);
    expect(df.escape).toBe('\\');
    expect(df.stages).toHaveLength(1);
    const [stage] = df.stages;
    expect(stage!.from).toMatchObject({ kind: 'FROM', image: 'ubuntu:14.04', pos: { line: 2, column: 1 }, original: 'FROM ubuntu:14.04' });
    expect(stage!.instructions.map((i) => i.kind)).toEqual(['MAINTAINER', 'RUN', 'RUN', 'ADD', 'EXPOSE', 'CMD']);
    expect(stage!.instructions[0]).toMatchObject({ name: 'Kate Smith <ksmith@example.com>' });
    expect(stage!.instructions[1]).toMatchObject({ form: 'shell', args: ['apt-get update && apt-get install -y ruby ruby-dev'], pos: { line: 4 } });
    expect(stage!.instructions[3]).toMatchObject({ kind: 'ADD', sources: ['app.rb'], dest: '/opt/app/' });
    expect(stage!.instructions[5]).toMatchObject({ kind: 'CMD', form: 'exec', args: ['ruby', '/opt/app/app.rb'] });
  });

  it('reads a multi-stage build: the syntax directive, global ARGs, stage names, COPY flags', () => {
    const df = parseDockerfile(goMultiStage);
    expect(df.syntax).toBe('docker/dockerfile:1');
    expect(df.globalArgs).toEqual([expect.objectContaining({ kind: 'ARG', args: [{ name: 'GO_VERSION', default: '1.19' }] })]);
    expect(df.stages.map((s) => [s.index, s.name, s.from.image])).toEqual([
      [0, 'build', 'golang:${GO_VERSION}'],
      [1, undefined, 'scratch'],
    ]);
    expect(df.stages[0]!.instructions[1]).toMatchObject({ kind: 'COPY', sources: ['go.mod', 'go.sum'], dest: './' });
    expect(df.stages[1]!.instructions[0]).toMatchObject({ kind: 'COPY', from: 'build', chown: '65534:65534', chmod: '0555', sources: ['/out/app'], dest: '/app' });
  });

  it('reads a Node app: continuations with a comment and an empty line inside, every metadata instruction', () => {
    const df = parseDockerfile(node);
    const inst = df.stages[0]!.instructions;
    const byKind = (k: string) => inst.filter((i) => i.kind === k);
    expect(byKind('ARG')[0]).toMatchObject({ args: [{ name: 'NODE_ENV', default: 'production' }, { name: 'APP_PORT' }] });
    expect(byKind('ENV')[0]).toMatchObject({
      pairs: [
        { key: 'NODE_ENV', value: '${NODE_ENV}' },
        { key: 'PORT', value: '3000' },
        { key: 'GREETING', value: '"hello world"' },
      ],
      pos: { line: 3 },
      endLine: 5,
    });
    expect(byKind('LABEL')[0]).toMatchObject({ pairs: [{ key: 'org.opencontainers.image.title', value: '"web"' }, { key: 'version', value: '1.0' }] });
    expect(byKind('COPY')[0]).toMatchObject({ sources: ['package.json', 'package-lock.json'], dest: './' });
    // The comment line inside the continuation is dropped; the lines are joined as written.
    expect(byKind('RUN')[0]).toMatchObject({ form: 'shell', args: ['npm ci     --omit=dev'], endLine: 11 });
    expect(byKind('VOLUME')[0]).toMatchObject({ values: ['/data', '/cache'] });
    expect(byKind('STOPSIGNAL')[0]).toMatchObject({ value: 'SIGQUIT' });
    expect(byKind('HEALTHCHECK')[0]).toMatchObject({
      config: { Test: ['CMD-SHELL', 'wget -qO- http://localhost:3000/health || exit 1'], Interval: 30e9, Timeout: 3e9, StartPeriod: 90e9, Retries: 3 },
    });
    expect(byKind('ONBUILD')[0]).toMatchObject({ trigger: 'COPY . /usr/src/app', instruction: { kind: 'COPY', sources: ['.'], dest: '/usr/src/app' } });
    expect(byKind('SHELL')[0]).toMatchObject({ args: ['/bin/ash', '-eo', 'pipefail', '-c'] });
    expect(byKind('EXPOSE')[0]).toMatchObject({ values: ['3000', '9229/udp'] });
    expect(byKind('CMD')[0]).toMatchObject({ form: 'shell', args: ['node server.js'] });
    expect(df.warnings).toEqual([]);
  });

  it('# escape=` makes the backtick the continuation character (Windows-style files); a backslash is plain', () => {
    const df = parseDockerfile('# escape=`\nFROM mcr.microsoft.com/windows/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\ `\n    && echo done\n');
    expect(df.escape).toBe('`');
    const [copy, run] = df.stages[0]!.instructions;
    expect(copy).toMatchObject({ sources: ['testfile.txt'], dest: 'c:\\' });
    expect(run).toMatchObject({ args: ['dir c:\\     && echo done'] });
  });

  it('an empty continuation line is allowed, with docker\'s warning; keywords in any case; legacy ENV', () => {
    const df = parseDockerfile('from busybox\nrun echo a \\\n\n  b\nenv NAME some value here\n');
    expect(df.warnings).toEqual(['Empty continuation line found in: run echo a   b']);
    expect(df.stages[0]!.instructions[0]).toMatchObject({ kind: 'RUN', args: ['echo a   b'], original: 'run echo a   b' });
    expect(df.stages[0]!.instructions[1]).toMatchObject({ kind: 'ENV', pairs: [{ key: 'NAME', value: 'some value here' }] });
  });

  it('directives only count at the very top; a second escape directive is an error', () => {
    expect(parseDockerfile('FROM a\n# escape=`\nRUN x \\\n y\n').escape).toBe('\\');
    expect(() => parseDockerfile('# escape=`\n# escape=\\\nFROM a\n')).toThrow('Dockerfile:2:1: only one escape parser directive can be used');
  });

  it('errors name the file, line and column (of the keyword, or of the arguments that are wrong)', () => {
    const bad: Array<[string, string]> = [
      ['FROM a\nFROMM b\n', 'Dockerfile:2:1: unknown instruction: FROMM'],
      ['FROM a\n  BOGUS x\n', 'Dockerfile:2:3: unknown instruction: BOGUS'],
      ['RUN true\n', 'Dockerfile:1:1: no build stage in current context'],
      ['', 'the Dockerfile (Dockerfile) cannot be empty'],
      ['# only a comment\n', 'the Dockerfile (Dockerfile) cannot be empty'],
      ['FROM a b\n', 'Dockerfile:1:6: FROM requires either one or three arguments'],
      ['FROM a AS 1x\n', 'Dockerfile:1:6: invalid name for build stage: "1x"'],
      ['FROM a AS x\nFROM b AS X\n', 'Dockerfile:2:1: duplicate name x'],
      ['FROM a\nCOPY onlyone\n', 'Dockerfile:2:6: COPY requires at least two arguments, but only one was provided'],
      ['FROM a\nADD --from=x a b\n', 'Dockerfile:2:5: unknown flag: --from'],
      ['FROM a\nRUN --mount=type=cache,target=/x make\n', 'Dockerfile:2:5: unknown flag: --mount'],
      ['FROM a\nCOPY --chown a b\n', 'Dockerfile:2:6: missing a value on flag: --chown'],
      ['FROM a\nENV\n', 'Dockerfile:2:4: ENV requires at least one argument'],
      ['FROM a\nENV ONLYKEY\n', 'Dockerfile:2:5: ENV must have two arguments'],
      ['FROM a\nENV A=1 B\n', `Dockerfile:2:5: Syntax error - can't find = in "B"`],
      ['FROM a\nSHELL /bin/sh -c\n', 'Dockerfile:2:7: SHELL requires the arguments to be in JSON form'],
      ['FROM a\nUSER a b\n', 'Dockerfile:2:6: USER requires exactly one argument'],
      ['FROM a\nONBUILD ONBUILD RUN x\n', "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
      ['FROM a\nONBUILD FROM b\n', "FROM isn't allowed as an ONBUILD trigger"],
      ['FROM a\nHEALTHCHECK --interval=soon CMD true\n', 'time: invalid duration "soon"'],
      ['FROM a\nHEALTHCHECK EXEC true\n', 'Unknown type "EXEC" in HEALTHCHECK (try CMD)'],
      ['FROM a\nRUN <<EOF\necho hi\nEOF\n', "Dockerfile:2:5: heredocs are not supported by ctrd's classic builder: <<EOF"],
      ['FROM a\nARG 1BAD\n', 'invalid ARG name "1BAD"'],
    ];
    for (const [text, message] of bad) expect(() => parseDockerfile(text), text).toThrow(message);
    expect(() => parseDockerfile('FROMM a\n', 'sub/Dockerfile.dev')).toThrow('sub/Dockerfile.dev:1:1: unknown instruction: FROMM');
  });

  it('the exec form only for a valid JSON array of strings; anything else is the shell form', () => {
    expect(parseInstruction('CMD ["a", "b c"]')).toMatchObject({ form: 'exec', args: ['a', 'b c'] });
    expect(parseInstruction('CMD [1, 2]')).toMatchObject({ form: 'shell', args: ['[1, 2]'] });
    expect(parseInstruction("CMD ['single']")).toMatchObject({ form: 'shell', args: ["['single']"] });
    expect(parseInstruction('ENTRYPOINT []')).toMatchObject({ form: 'exec', args: [] });
    expect(parseInstruction('HEALTHCHECK NONE')).toMatchObject({ config: { Test: ['NONE'] } });
    expect(parseInstruction('HEALTHCHECK CMD ["curl", "-f", "http://x/"]')).toMatchObject({ config: { Test: ['CMD', 'curl', '-f', 'http://x/'] } });
  });
});

describe('helpers', () => {
  it('rawWords splits on blanks outside quotes and keeps quotes and escapes', () => {
    expect(rawWords(`a "b c" 'd e' f\\ g`, '\\')).toEqual(['a', '"b c"', "'d e'", 'f\\ g']);
  });

  it('parseDuration reads Go durations', () => {
    expect(parseDuration('1m30s')).toBe(90e9);
    expect(parseDuration('500ms')).toBe(500e6);
    expect(parseDuration('1.5h')).toBe(5400e9);
    expect(parseDuration('0')).toBe(0);
    for (const bad of ['', '10', 's', '1x', '1s ']) expect(parseDuration(bad), bad).toBeUndefined();
  });
});
