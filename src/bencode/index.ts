export {
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_TOKENS,
  type DecodedDocument,
  type DecodeOptions,
  decode,
  decodeDocument,
  MAX_INTEGER_DIGITS,
  MAX_WARNINGS,
} from './decode.js';
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
