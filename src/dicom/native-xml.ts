// The Native DICOM Model of PS3.19 A.1 (application/dicom+xml): a data set of the DICOM JSON model
// (PS3.18 Annex F) written as XML, attribute for attribute, in tag order. Bulk data stays a
// reference (BulkData uri) or inline Base64 (InlineBinary), as it is in the JSON.
import { attributeOfTag } from './data-dictionary.ts';
import type { DicomJsonAttribute, DicomJsonDataSet, DicomJsonValue, PersonNameValue } from './dicom-json.ts';

export const DICOM_XML_MEDIA_TYPE = 'application/dicom+xml';

const NAMESPACE = 'http://dicom.nema.org/PS3.19/models/NativeDICOM';
const NAME_GROUPS = ['Alphabetic', 'Ideographic', 'Phonetic'] as const;
const NAME_COMPONENTS = ['FamilyName', 'GivenName', 'MiddleName', 'NamePrefix', 'NameSuffix'] as const;

/** One NativeDicomModel document, UTF-8. */
export function nativeDicomModel(dataSet: DicomJsonDataSet): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<NativeDicomModel xmlns="${NAMESPACE}" xml:space="preserve">${attributes(dataSet)}</NativeDicomModel>\n`;
}

function attributes(dataSet: DicomJsonDataSet): string {
  return Object.keys(dataSet).sort().map((tag) => attribute(tag, dataSet[tag]!, dataSet)).join('');
}

function attribute(tag: string, { vr, Value, BulkDataURI, InlineBinary }: DicomJsonAttribute, dataSet: DicomJsonDataSet): string {
  const keyword = attributeOfTag(tag)?.keyword;
  const creator = privateCreatorOf(tag, dataSet);
  // PS3.19 A.1: a private attribute names its creator, and its tag leaves out the block the creator reserved (gggg,xxee → gggg00ee).
  const written = creator === undefined ? tag : `${tag.slice(0, 4)}00${tag.slice(6)}`;
  const open = `<DicomAttribute tag="${written}" vr="${vr}"${keyword ? ` keyword="${keyword}"` : ''}${creator !== undefined ? ` privateCreator="${text(creator)}"` : ''}`;
  let content = '';
  if (BulkDataURI !== undefined) content = `<BulkData uri="${text(BulkDataURI)}"/>`;
  else if (InlineBinary !== undefined) content = `<InlineBinary>${InlineBinary}</InlineBinary>`;
  else if (Value) content = Value.map((value, index) => valueElement(vr, value, index + 1)).join('');
  return content ? `${open}>${content}</DicomAttribute>` : `${open}/>`;
}

function valueElement(vr: string, value: DicomJsonValue, number: number): string {
  if (vr === 'SQ') return value === null ? `<Item number="${number}"/>` : `<Item number="${number}">${attributes(value as DicomJsonDataSet)}</Item>`;
  if (vr === 'PN') return personName(value as PersonNameValue | null, number);
  return value === null ? `<Value number="${number}"/>` : `<Value number="${number}">${text(String(value))}</Value>`;
}

/** PS3.19 A.1.1: each component group its own element, each non-empty component of it an element. */
function personName(value: PersonNameValue | null, number: number): string {
  const groups = NAME_GROUPS.flatMap((group) => {
    const components = (value?.[group] ?? '').split('^');
    const written = NAME_COMPONENTS.map((name, index) => (components[index] ? `<${name}>${text(components[index])}</${name}>` : '')).join('');
    return written ? [`<${group}>${written}</${group}>`] : [];
  });
  return groups.length > 0 ? `<PersonName number="${number}">${groups.join('')}</PersonName>` : `<PersonName number="${number}"/>`;
}

/** PS3.5 7.8.1: a private data element (gggg,xxyy) belongs to the creator named by (gggg,00xx). */
function privateCreatorOf(tag: string, dataSet: DicomJsonDataSet): string | undefined {
  const group = parseInt(tag.slice(0, 4), 16);
  const element = parseInt(tag.slice(4), 16);
  if (group % 2 === 0 || element < 0x1000) return undefined;
  const creator = dataSet[`${tag.slice(0, 4)}00${tag.slice(4, 6)}`]?.Value?.[0];
  return typeof creator === 'string' ? creator : undefined;
}

/**
 * Character data and attribute values: markup escaped; a carriage return kept as a reference (an
 * XML parser would normalise it away); characters XML 1.0 cannot carry replaced by U+FFFD.
 */
function text(value: string): string {
  return value.replace(/[&<>"\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, (character) => {
    switch (character) {
      case '&': return '&amp;';
      case '<': return '&lt;';
      case '>': return '&gt;';
      case '"': return '&quot;';
      case '\r': return '&#13;';
      default: return '\uFFFD';
    }
  });
}
