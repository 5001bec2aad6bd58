// docker's substitution rules: the forms of ${}, quotes, escapes, what each instruction expands, and errors.
import { describe, expect, it } from 'vitest';
import { expandInstruction, expandWord } from './expand.js';
import { parseInstruction } from './parse.js';

const vars: Record<string, string> = { NAME: 'web', EMPTY: '', PORT: '8080', SPACED: 'a b' };
const lookup = (n: string) => vars[n];
const x = (w: string) => expandWord(w, lookup).value;

describe('expandWord', () => {
  it('$VAR and ${VAR}; unset is empty; a lone $ stays', () => {
    expect(x('$NAME-${NAME}.conf')).toBe('web-web.conf');
    expect(x('[$NOPE]')).toBe('[]');
    expect(x('cost: 5$')).toBe('cost: 5$');
    expect(x('$ NAME')).toBe('$ NAME');
  });

  it('the modifiers: :- - :+ + and :? ?', () => {
    expect(x('${NOPE:-def}/${EMPTY:-def}/${NAME:-def}')).toBe('def/def/web');
    expect(x('${NOPE-def}/${EMPTY-def}')).toBe('def/');
    expect(x('${NAME:+alt}/${EMPTY:+alt}/${NOPE:+alt}')).toBe('alt//');
    expect(x('${EMPTY+alt}/${NOPE+alt}')).toBe('alt/');
    expect(x('${NOPE:-${PORT}}')).toBe('8080');
    expect(() => x('${NOPE:?must be set}')).toThrow('NOPE: must be set');
    expect(() => x('${NOPE?}')).toThrow('NOPE: is not allowed to be unset');
    expect(x('${EMPTY?}')).toBe('');
  });

  it('single quotes keep everything, double quotes expand, quotes are removed, escapes take the next character', () => {
    expect(x(`'$NAME' "$NAME" "a 'b'"`)).toBe(`$NAME web a 'b'`);
    expect(x('\\$NAME')).toBe('$NAME');
    expect(x('"\\$NAME \\"q\\" \\n"')).toBe('$NAME "q" \\n');
    expect(expandWord('`$NAME', lookup, '`').value).toBe('$NAME');
  });

  it('reports every variable referenced, set or not', () => {
    expect(expandWord('$NAME ${NOPE:-$PORT} \'$HIDDEN\'', lookup).referenced.sort()).toEqual(['NAME', 'NOPE', 'PORT']);
  });

  it('malformed substitutions and quotes are errors', () => {
    expect(() => x('${NAME')).toThrow(`failed to process "\${NAME": missing '}'`);
    expect(() => x('${}')).toThrow('bad substitution');
    expect(() => x('${NAME/a/b}')).toThrow('unsupported modifier (/) in substitution');
    expect(() => x('"open')).toThrow('matching double-quote');
    expect(() => x("'open")).toThrow('matching single-quote');
  });
});

describe('expandInstruction', () => {
  it("expands where docker does: ENV, LABEL, COPY and its flags, WORKDIR, EXPOSE, USER, FROM; not RUN or CMD", () => {
    const e = <T>(line: string) => expandInstruction(parseInstruction(line), lookup).value as T;
    expect(e('ENV URL="http://$NAME:$PORT/" OTHER=${NOPE:-x}')).toMatchObject({ pairs: [{ key: 'URL', value: 'http://web:8080/' }, { key: 'OTHER', value: 'x' }] });
    expect(e('LABEL "app.$NAME"=yes')).toMatchObject({ pairs: [{ key: 'app.web', value: 'yes' }] });
    expect(e('COPY --chown=$NAME:$NAME --from=$NAME src/$NAME.conf /etc/$NAME/')).toMatchObject({ chown: 'web:web', from: 'web', sources: ['src/web.conf'], dest: '/etc/web/' });
    expect(e('WORKDIR /srv/$NAME')).toMatchObject({ value: '/srv/web' });
    expect(e('EXPOSE $PORT/tcp')).toMatchObject({ values: ['8080/tcp'] });
    expect(e('USER ${NAME}')).toMatchObject({ value: 'web' });
    expect(e('ARG X=$PORT')).toMatchObject({ args: [{ name: 'X', default: '8080' }] });
    expect(e('RUN echo $NAME')).toMatchObject({ args: ['echo $NAME'] });
    expect(e('CMD echo $NAME')).toMatchObject({ args: ['echo $NAME'] });
  });

  it('names the line and column of a bad substitution', () => {
    const inst = parseInstruction('WORKDIR /a/${oops');
    expect(() => expandInstruction(inst, lookup)).toThrow('Dockerfile:1:1: failed to process "/a/${oops": missing \'}\'');
  });
});
