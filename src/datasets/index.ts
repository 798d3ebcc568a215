/**
 * The dataset seam's public API: parse what the user wrote, load it, adapt it to a model, record it.
 * See registry.ts (specs and formats), types.ts (ImageDataset, DatasetRecord) and adapt.ts.
 */
export type { DatasetAdaptation, DatasetFile, DatasetFormat, DatasetRecord, DatasetRequest, ImageDataset, Split } from './types.js';
export { SPLITS } from './types.js';
export {
  DATASET_FORMATS,
  DATASET_FORMAT_NAMES,
  DEFAULT_DATASET,
  describeDatasetFormats,
  getDatasetFormat,
  loadDataset,
  parseDatasetSpec,
  type DatasetConfig,
  type LoadDatasetOptions,
  type ParseDatasetOptions,
  type ResolvedDataset,
} from './registry.js';
export { adaptBatch, adaptDataset, planAdaptation, type ImageShape } from './adapt.js';
