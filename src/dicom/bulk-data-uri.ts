// BulkDataURIs are stored as placeholders naming the value inside its instance; the server turns
// them into URLs when it answers, so stored metadata never depends on the public base URL.
import type { DicomJsonAttribute, DicomJsonDataSet, DicomJsonValue } from './dicom-json.ts';

/** An internal URI scheme: a placeholder that leaks into a response is recognisable, and resolves nowhere. */
const PLACEHOLDER_SCHEME = 'cusp-bulkdata:';

/**
 * `reference` is the tag path of the value in the instance: tags and item indexes joined by '/',
 * e.g. '7FE00010' (Pixel Data) or '00880200/0/7FE00010' (the icon's pixels in Icon Image Sequence item 0).
 */
export const bulkDataPlaceholder = (reference: string) => PLACEHOLDER_SCHEME + reference;

/**
 * A copy of `dataSet` whose BulkDataURI placeholders are replaced by `uriOf(reference)`, e.g.
 * `(ref) => \`${publicBaseUrl}/dicomweb/studies/${study}/series/${series}/instances/${sop}/bulkdata/${ref}\``.
 */
export function completeBulkDataURIs(dataSet: DicomJsonDataSet, uriOf: (reference: string) => string): DicomJsonDataSet {
  const completed: DicomJsonDataSet = {};
  for (const [tag, attribute] of Object.entries(dataSet)) completed[tag] = completeAttribute(attribute, uriOf);
  return completed;
}

function completeAttribute(attribute: DicomJsonAttribute, uriOf: (reference: string) => string): DicomJsonAttribute {
  if (attribute.BulkDataURI?.startsWith(PLACEHOLDER_SCHEME)) {
    return { ...attribute, BulkDataURI: uriOf(attribute.BulkDataURI.slice(PLACEHOLDER_SCHEME.length)) };
  }
  if (attribute.vr === 'SQ' && attribute.Value) {
    return { ...attribute, Value: attribute.Value.map((item) => completeDataSet(item, uriOf)) };
  }
  return attribute;
}

const completeDataSet = (item: DicomJsonValue, uriOf: (reference: string) => string): DicomJsonValue =>
  item !== null && typeof item === 'object' ? completeBulkDataURIs(item as DicomJsonDataSet, uriOf) : item;
