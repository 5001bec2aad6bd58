import { describe, expect, it } from 'vitest';
import { registryErrorMessage, statusMessage } from './errors.js';

describe('registryErrorMessage', () => {
  it.each([
    ['{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}', 'unauthorized: authentication required'],
    ['{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"},{"code":"DENIED"}]}', 'manifest unknown: manifest unknown; denied'],
    ['{"details":"incorrect username or password"}', 'incorrect username or password'],
    ['{"error":"invalid_grant","error_description":"bad refresh token"}', 'bad refresh token'],
    ['plain words', 'plain words'],
    ['<html><body>502 Bad Gateway</body></html>', undefined],
    ['', undefined],
    ['{}', undefined],
  ])('%s -> %s', (body, message) => {
    expect(registryErrorMessage(Buffer.from(body))).toBe(message);
  });
});

describe('statusMessage', () => {
  it('starts a 401 with "unauthorized:" and a 403 with "denied:", whatever the registry said', () => {
    expect(statusMessage(401, 'unauthorized: authentication required')).toBe('unauthorized: authentication required');
    expect(statusMessage(401, 'token expired')).toBe('unauthorized: token expired');
    expect(statusMessage(401, undefined)).toBe('unauthorized: 401 unauthorized');
    expect(statusMessage(403, undefined)).toBe('denied: 403 forbidden');
    expect(statusMessage(404, 'manifest unknown: manifest unknown')).toBe('not found');
    expect(statusMessage(500, undefined)).toBe('unexpected status 500 internal server error');
    expect(statusMessage(400, 'bad: thing')).toBe('unexpected status 400: bad: thing');
  });
});
