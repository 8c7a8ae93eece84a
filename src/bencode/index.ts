export { type DecodedDocument, type DocumentOptions, decode, decodeDocument } from './decode.js';
export { type Encodable, encode } from './encode.js';
export { type DecodedText, decodeText, toText } from './text.js';
export {
  type BDict,
  BencodeError,
  type BencodeErrorCode,
  type BList,
  type BValue,
  isBytes,
  isDict,
  isInt,
  isList,
  type Span,
} from './types.js';
export {
  BencodeView,
  type BType,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_TOKENS,
  type DecodeOptions,
  decodeView,
  MAX_INTEGER_DIGITS,
  MAX_WARNINGS,
  withTokenTable,
} from './view.js';
