// Decodes text values (SH, LO, ST, LT, UC, UT, PN) per Specific Character Set (0008,0005):
// PS3.3 C.12.1.1.2 defined terms, and the ISO 2022 code extensions of PS3.5 section 6.1.2.5.
//
// Supported: the default repertoire, ISO_IR 100/101/109/110/144/127/126/138/148/203/166/13,
// ISO_IR 192 (UTF-8), GB18030, GBK, and with code extensions ISO 2022 IR 6, the single-byte sets
// above, IR 13 (JIS X 0201), IR 87 (JIS X 0208), IR 159 (JIS X 0212), IR 149 (KS X 1001) and
// IR 58 (GB 2312). An unknown term decodes as ISO 8859-1 and is reported.

export interface CharacterSetDecoder {
  decode(bytes: Uint8Array): string;
  /** Terms of (0008,0005) that are not supported (their text was decoded as ISO 8859-1). */
  readonly unsupportedTerms: readonly string[];
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
const textDecoder = (label: string) => {
  const decoder = new TextDecoder(label);
  return (bytes: Uint8Array) => decoder.decode(bytes);
};

// WHATWG decoders, except ISO 8859-1 (WHATWG's 'latin1' is windows-1252) and 8859-9 (WHATWG
// decodes it as windows-1254, which differs only in the C1 controls).
const SINGLE_BYTE_SETS: Record<string, { decode: (bytes: Uint8Array) => string; escape: string }> = {
  'IR 100': { decode: latin1, escape: '-A' },
  'IR 101': { decode: textDecoder('iso-8859-2'), escape: '-B' },
  'IR 109': { decode: textDecoder('iso-8859-3'), escape: '-C' },
  'IR 110': { decode: textDecoder('iso-8859-4'), escape: '-D' },
  'IR 144': { decode: textDecoder('iso-8859-5'), escape: '-L' },
  'IR 127': { decode: textDecoder('iso-8859-6'), escape: '-G' },
  'IR 126': { decode: textDecoder('iso-8859-7'), escape: '-F' },
  'IR 138': { decode: textDecoder('iso-8859-8'), escape: '-H' },
  'IR 148': { decode: textDecoder('iso-8859-9'), escape: '-M' },
  'IR 203': { decode: textDecoder('iso-8859-15'), escape: '-b' },
  'IR 166': { decode: textDecoder('windows-874'), escape: '-T' },
};

const WHOLE_VALUE_SETS: Record<string, (bytes: Uint8Array) => string> = {
  '': latin1,
  'ISO_IR 6': latin1,
  'ISO_IR 192': textDecoder('utf-8'),
  GB18030: textDecoder('gb18030'),
  GBK: textDecoder('gbk'),
  'ISO_IR 13': textDecoder('shift_jis'),
  ...Object.fromEntries(Object.entries(SINGLE_BYTE_SETS).map(([ir, set]) => [`ISO_${ir}`, set.decode])),
};

export function characterSetDecoder(specificCharacterSet: readonly string[]): CharacterSetDecoder {
  const terms = specificCharacterSet.map(normaliseTerm);
  const usesCodeExtensions = terms.length > 1 || terms.some((term) => term.startsWith('ISO 2022'));
  if (!usesCodeExtensions) {
    const term = terms[0] ?? '';
    const decode = WHOLE_VALUE_SETS[term];
    return decode ? { decode, unsupportedTerms: [] } : { decode: latin1, unsupportedTerms: [term] };
  }
  return iso2022Decoder(terms);
}

/** 'ISO-IR 100', 'ISO_IR100' and the like, as some writers spell them, read as 'ISO_IR 100'. */
function normaliseTerm(term: string): string {
  const trimmed = term.trim().toUpperCase();
  const singleByte = /^ISO[-_ ]?IR[-_ ]?(\d+)$/.exec(trimmed);
  return singleByte ? `ISO_IR ${singleByte[1]}` : trimmed;
}

// ---- ISO 2022 code extensions -------------------------------------------------------------

/** A graphic character set designated to G0 (bytes 0x21-0x7E) or G1 (bytes 0xA1-0xFE). */
interface CodeElement {
  bytesPerCharacter: 1 | 2;
  decode(bytes: Uint8Array): string;
}

const eucJp = textDecoder('euc-jp');
const ASCII: CodeElement = { bytesPerCharacter: 1, decode: latin1 };
const JIS_X_0201_ROMAN: CodeElement = {
  bytesPerCharacter: 1,
  decode: (bytes) => latin1(bytes).replace(/\\/g, '\u00a5').replace(/~/g, '\u203e'),
};
const JIS_X_0201_KATAKANA: CodeElement = {
  bytesPerCharacter: 1,
  decode: (bytes) => String.fromCharCode(...Array.from(bytes, (b) => 0xff61 + (b & 0x7f) - 0x21)),
};
// Two-byte sets decode through the EUC form of the same code points.
const JIS_X_0208: CodeElement = { bytesPerCharacter: 2, decode: (bytes) => eucJp(bytes.map((b) => b | 0x80)) };
const JIS_X_0212: CodeElement = {
  bytesPerCharacter: 2,
  decode: (bytes) => eucJp(Uint8Array.from(pairs(bytes).flatMap(([a, b]) => [0x8f, a | 0x80, b | 0x80]))),
};
const KS_X_1001: CodeElement = { bytesPerCharacter: 2, decode: textDecoder('euc-kr') };
const GB_2312: CodeElement = { bytesPerCharacter: 2, decode: textDecoder('gbk') };

interface Designation {
  g0?: CodeElement;
  g1?: CodeElement;
}

/** Escape sequences (the bytes after ESC) and the code elements they designate (PS3.3 Table C.12-3, C.12-4). */
const ESCAPES: [string, Designation][] = [
  ['(B', { g0: ASCII }],
  ['(J', { g0: JIS_X_0201_ROMAN }],
  [')I', { g1: JIS_X_0201_KATAKANA }],
  ['$B', { g0: JIS_X_0208 }],
  ['$(D', { g0: JIS_X_0212 }],
  ['$)C', { g1: KS_X_1001 }],
  ['$)A', { g1: GB_2312 }],
  ...Object.values(SINGLE_BYTE_SETS).map(({ decode, escape }): [string, Designation] => [escape, { g1: { bytesPerCharacter: 1, decode } }]),
];

/** What value 1 of (0008,0005) designates before any escape sequence. */
function initialDesignation(term: string): Designation | undefined {
  if (term === '' || term === 'ISO 2022 IR 6') return { g0: ASCII };
  if (term === 'ISO 2022 IR 13') return { g0: JIS_X_0201_ROMAN, g1: JIS_X_0201_KATAKANA };
  if (term === 'ISO 2022 IR 87') return { g0: JIS_X_0208 };
  if (term === 'ISO 2022 IR 159') return { g0: JIS_X_0212 };
  if (term === 'ISO 2022 IR 149') return { g0: ASCII, g1: KS_X_1001 };
  if (term === 'ISO 2022 IR 58') return { g0: ASCII, g1: GB_2312 };
  const singleByte = SINGLE_BYTE_SETS[term.replace(/^ISO 2022 /, '')];
  return singleByte ? { g0: ASCII, g1: { bytesPerCharacter: 1, decode: singleByte.decode } } : undefined;
}

const ESC = 0x1b;
// Where PS3.5 6.1.2.5.3 has the encoder return to the initial code elements: line and page ends,
// TAB, the value separator and the PN component (group) delimiters.
const RESETTING_BYTES = new Set([0x0a, 0x0c, 0x0d, 0x09, 0x5c, 0x3d, 0x5e]);
const ISO_2022_TERMS = new Set(['ISO 2022 IR 6', 'ISO 2022 IR 13', 'ISO 2022 IR 87', 'ISO 2022 IR 159', 'ISO 2022 IR 149', 'ISO 2022 IR 58']);

function iso2022Decoder(terms: string[]): CharacterSetDecoder {
  const unsupportedTerms = terms.filter(
    (term) => term !== '' && !ISO_2022_TERMS.has(term) && !SINGLE_BYTE_SETS[term.replace(/^ISO 2022 /, '')],
  );
  const initial: Designation = initialDesignation(terms[0] ?? '') ?? { g0: ASCII };
  return {
    unsupportedTerms,
    decode(bytes: Uint8Array): string {
      let g0 = initial.g0 ?? ASCII;
      let g1 = initial.g1;
      let text = '';
      let run: { element: CodeElement; start: number } | undefined;
      const flush = (end: number) => {
        if (run && end > run.start) text += run.element.decode(bytes.subarray(run.start, end));
        run = undefined;
      };
      const extend = (element: CodeElement, at: number) => {
        if (run?.element !== element) {
          flush(at);
          run = { element, start: at };
        }
      };
      let i = 0;
      while (i < bytes.length) {
        const byte = bytes[i]!;
        if (byte === ESC) {
          flush(i);
          const escape = ESCAPES.find(([sequence]) => matches(bytes, i + 1, sequence));
          if (escape) {
            g0 = escape[1].g0 ?? g0;
            g1 = escape[1].g1 ?? g1;
            i += 1 + escape[0].length;
          } else {
            text += '\u001b';
            i += 1;
          }
          continue;
        }
        const element = byte < 0x80 ? g0 : (g1 ?? ASCII);
        const isTwoByteCharacter = element.bytesPerCharacter === 2 && (byte & 0x7f) >= 0x21;
        if (!isTwoByteCharacter && RESETTING_BYTES.has(byte)) {
          g0 = initial.g0 ?? ASCII;
          g1 = initial.g1;
          extend(ASCII, i);
          i += 1;
          continue;
        }
        extend(element, i);
        i += isTwoByteCharacter ? 2 : 1;
      }
      flush(Math.min(i, bytes.length));
      return text;
    },
  };
}

function matches(bytes: Uint8Array, at: number, sequence: string): boolean {
  for (let k = 0; k < sequence.length; k++) if (bytes[at + k] !== sequence.charCodeAt(k)) return false;
  return true;
}

function pairs(bytes: Uint8Array): [number, number][] {
  const result: [number, number][] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) result.push([bytes[i]!, bytes[i + 1]!]);
  return result;
}
