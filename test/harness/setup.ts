// Runs in every test file (vitest setupFiles): what a file's tests built and kept for the whole file goes
// when the file is done. vitest ends its workers without 'exit' hooks, so this is the place.
import { afterAll } from 'vitest';
import { removeTestImages } from './images.js';

afterAll(() => removeTestImages());
