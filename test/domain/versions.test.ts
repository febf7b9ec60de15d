import { describe, expect, it } from '@jest/globals';
import {
  changeKind,
  parseReleaseListText,
  parseVersion,
  ReleaseList,
  VersionError,
} from '../../src/domain/index.js';

describe('versions', () => {
  it.each([
    ['1.11.3', '1.11.3'],
    ['v1.11.3', '1.11.3'],
    [' v1.12.0 ', '1.12.0'],
    ['2.0.0-beta.1', '2.0.0-beta.1'],
  ])('parses %j as %s', (input, expected) => expect(parseVersion(input)).toBe(expected));

  it.each(['1.11', 'latest', '', 'v1.11.3.4', '1.x.0'])('rejects %j with what was expected', (input) => {
    expect(() => parseVersion(input, 'talos_version')).toThrow(VersionError);
    expect(() => parseVersion(input, 'talos_version')).toThrow(
      /talos_version .* expected MAJOR\.MINOR\.PATCH/,
    );
  });

  it.each([
    ['1.10.8', '1.10.9', 'patch'],
    ['1.10.8', '1.11.0', 'minor'],
    ['1.10.8', '2.0.0', 'major'],
  ] as const)('%s -> %s is a %s change', (from, to, kind) => expect(changeKind(from, to)).toBe(kind));

  it('reads a release list file with comments, v prefixes and pre-releases', () => {
    const list = parseReleaseListText('# Talos releases\nv1.12.0\n1.12.5\n\n1.13.0-beta.1\n1.11.3 # old\n');
    expect(list.versions).toEqual(['1.11.3', '1.12.0', '1.12.5']);
    expect(list.latestPatchOf('1.12')).toBe('1.12.5');
    expect(list.latestPatchOf('1.14')).toBeUndefined();
  });

  it('names the line of a bad entry in a release list', () => {
    expect(() => parseReleaseListText('1.12.0\nnot-a-version\n', 'releases.txt')).toThrow(
      /^releases\.txt:2: /,
    );
  });

  it('lists the minors between two versions across a major', () => {
    const list = new ReleaseList(['1.14.0', '1.15.2', '2.0.0', '2.1.0']);
    expect(list.minorsBetween('1.13.4', '2.1.0')).toEqual(['1.14', '1.15', '2.0']);
  });
});
