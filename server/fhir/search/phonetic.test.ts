/** The phonetic key of the `phonetic` search parameter: American Soundex on folded letters. */
import { phoneticKey } from './normalise';

test.each([
  ['Robert', 'R163'],
  ['Rupert', 'R163'],
  ['Ashcraft', 'A261'], // H does not separate s and c
  ['Tymczak', 'T522'], // a vowel separates z and c
  ['Pfister', 'P236'], // f has the first letter's digit
  ['Honeyman', 'H555'],
  ['Lee', 'L000'],
  ['Müller', 'M460'],
  ['Mueller', 'M460'],
  ['Raghavan', 'R215'],
  ['Raghawan', 'R250'],
  ["D'Souza", 'D220'], // the vowel lets z repeat s's digit
])('%s → %s', (name, key) => {
  expect(phoneticKey(name)).toBe(key);
});

test('names without Latin letters key as their folded selves; no letters at all is no key', () => {
  expect(phoneticKey('प्रिया')).toBe(phoneticKey('प्रिया'));
  expect(phoneticKey('प्रिया')?.startsWith('=')).toBe(true);
  expect(phoneticKey('प्रिया')).not.toBe(phoneticKey('लक्ष्मी'));
  expect(phoneticKey('  ')).toBeUndefined();
  expect(phoneticKey('-')).toBeUndefined();
});
