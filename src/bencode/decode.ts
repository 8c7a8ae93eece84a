import type { Warning } from '../errors.js';
import type { BDict, BList, BValue, Span } from './types.js';
import { type BencodeView, type DecodeOptions, decodeView, MAX_WARNINGS, printable } from './view.js';

export interface DocumentOptions extends DecodeOptions {
  /**
   * Record byte spans of lists and dictionaries nested at most this deep (0 = the top value only).
   * Default: all of them.
   */
  spanDepth?: number;
}

export interface DecodedDocument {
  value: BValue;
  warnings: Warning[];
  /** Warnings found beyond MAX_WARNINGS (not kept). */
  droppedWarnings: number;
  /** Raw byte span `[start, end)` of a list or dictionary of this document, if recorded. */
  spanOf(container: BList | BDict): Span | undefined;
}

/** Where `materialize` reports what only it can see: repeats of keys that were not adjacent. */
interface WarningSink {
  warnings: Warning[];
  dropped: number;
  /** Offsets of repeated keys already reported (by the view or here). */
  reported: Set<number>;
}

/** Decode a complete bencoded document to plain values; throws `BencodeError` (with byte offset). */
export function decode(bytes: Uint8Array, options: DecodeOptions = {}): BValue {
  const view = decodeView(bytes, options);
  return materialize(view, view.root, 0, -1, undefined, null);
}

/**
 * Decode with everything a careful reader needs: the value, the warnings of lenient mode, and
 * the raw byte span of any container (the info-hash is computed over the original bytes of
 * `info`, never over a re-encoding).
 */
export function decodeDocument(bytes: Uint8Array, options: DocumentOptions = {}): DecodedDocument {
  const view = decodeView(bytes, options);
  const spans = new Map<BList | BDict, Span>();
  const sink: WarningSink = {
    warnings: [...view.warnings],
    dropped: view.droppedWarnings,
    reported: new Set(view.warnings.filter((w) => w.code === 'BENCODE_DUPLICATE_KEY').map((w) => w.offset ?? -1)),
  };
  const value = materialize(view, view.root, 0, options.spanDepth ?? Number.POSITIVE_INFINITY, spans, sink);
  return {
    value,
    warnings: sink.warnings,
    droppedWarnings: sink.dropped,
    spanOf: (container) => spans.get(container),
  };
}

/** Plain values from a validated view. Recursion is bounded by the view's depth limit. */
function materialize(
  view: BencodeView,
  i: number,
  depth: number,
  spanDepth: number,
  spans: Map<BList | BDict, Span> | undefined,
  sink: WarningSink | null,
): BValue {
  if (view.isInt(i)) return view.int(i);
  if (view.isBytes(i)) return view.bytesOf(i);
  let container: BList | BDict;
  if (view.isList(i)) {
    const list: BList = [];
    for (const c of view.children(i)) list.push(materialize(view, c, depth + 1, spanDepth, spans, sink));
    container = list;
  } else {
    const dict: BDict = new Map();
    for (const [k, v] of view.entries(i)) {
      const key = view.latin1(k);
      if (dict.has(key)) {
        // The view reports adjacent repeats; a repeat after unsorted keys is only seen here.
        const at = view.span(k).start;
        if (sink !== null && !sink.reported.has(at)) {
          sink.reported.add(at);
          if (sink.warnings.length < MAX_WARNINGS) {
            sink.warnings.push({
              code: 'BENCODE_DUPLICATE_KEY',
              message: `duplicate dictionary key "${printable(key)}" (first value kept)`,
              offset: at,
            });
          } else {
            sink.dropped++;
          }
        }
        continue;
      }
      dict.set(key, materialize(view, v, depth + 1, spanDepth, spans, sink));
    }
    container = dict;
  }
  if (spans && depth <= spanDepth) spans.set(container, view.span(i));
  return container;
}
