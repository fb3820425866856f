// The PS3.6 data dictionary that dcmjs ships: attributes by tag and by keyword, and the VR of an
// element in an Implicit VR data set.
import { createRequire } from 'node:module';

interface DictionaryEntry {
  /** "(gggg,eeee)" */
  tag: string;
  vr: string;
  /** The PS3.6 keyword. */
  name: string;
}

/** A standard attribute as the dictionary describes it. */
export interface DictionaryAttribute {
  /** Eight upper-case hex digits, as the DICOM JSON model keys it. */
  tag: string;
  keyword: string;
  /** As the dictionary gives it: for a few attributes not one VR but a choice (xs, ox, lt, up). */
  vr: string;
}

// dcmjs ships no type declarations; typing the one object used here keeps an ambient
// `declare module 'dcmjs'` (which other code may want to declare differently) out of the tree.
const dcmjs = createRequire(import.meta.url)('dcmjs') as {
  data: { DicomMetaDictionary: { dictionary: Record<string, DictionaryEntry | undefined>; nameMap: Record<string, DictionaryEntry | undefined> } };
};
const { dictionary, nameMap } = dcmjs.data.DicomMetaDictionary;

/** Keywords in any letter case: PS3.6 keywords differ by more than case, and clients are not careful. */
const byLowerKeyword = new Map(Object.entries(nameMap).map(([keyword, entry]) => [keyword.toLowerCase(), entry!]));

const TAG = /^[0-9A-F]{8}$/;

function attributeOf(entry: DictionaryEntry | undefined): DictionaryAttribute | undefined {
  const tag = entry?.tag.replace(/[(),]/g, '').toUpperCase();
  // Repeating groups (60xx) and private entries have no single tag.
  return entry && TAG.test(tag!) ? { tag: tag!, keyword: entry.name, vr: entry.vr } : undefined;
}

/** The standard attribute of a tag given as 8 hex digits; undefined for private and unknown ones. */
export const attributeOfTag = (tag: string): DictionaryAttribute | undefined =>
  attributeOf(dictionary[`(${tag.slice(0, 4).toUpperCase()},${tag.slice(4).toUpperCase()})`]);

/** The standard attribute of a PS3.6 keyword, in any letter case. */
export const attributeOfKeyword = (keyword: string): DictionaryAttribute | undefined => attributeOf(byLowerKeyword.get(keyword.toLowerCase()));

export interface ImplicitVRContext {
  /** Pixel Representation (0028,0103) of the enclosing data set: 1 means signed pixel values. */
  pixelRepresentation: number | undefined;
}

/**
 * PS3.5 Annex A.1: an Implicit VR data set names no VR, so the dictionary decides. The dictionary's
 * ambiguous entries resolve as DCMTK resolves them: "US or SS" by Pixel Representation, "OB or OW"
 * and "US or SS or OW" as OW (PS3.5 A.1 (c) and 8.1.2), and the retired "up" pointer as UL.
 */
export function implicitVR(tag: number, context: ImplicitVRContext): string {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  if (element === 0) return 'UL'; // Group Length
  if (group % 2 === 1) return element >= 0x10 && element <= 0xff ? 'LO' : 'UN'; // Private Creator, private data
  const vr = dictionary[tagKey(group, element)]?.vr;
  switch (vr) {
    case undefined:
      return 'UN';
    case 'xs':
      return context.pixelRepresentation === 1 ? 'SS' : 'US';
    case 'ox':
    case 'lt':
      return 'OW';
    case 'up':
      return 'UL';
    default:
      return vr;
  }
}

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
const tagKey = (group: number, element: number) => `(${hex4(group)},${hex4(element)})`;

