/**
 * The messages between `worker-pool.ts` and `deflate-worker.ts`. Paths travel
 * as one string joined by NUL (which no path holds); answers come as typed
 * arrays, and the payloads of a batch in one transferred `ArrayBuffer`.
 * @internal
 * @module
 */

/** Status of one path or file in a reply. @internal */
export const OK = 0;
/** `stat`: vanished, or not a regular file. @internal */
export const SKIPPED = 1;
/** @internal */
export const FAILED = 2;
/** `flags` bit of a `files` reply: the payload is deflated. @internal */
export const DEFLATED = 1;
/** `flags` bit of a `files` reply: the original starts with `#!`. @internal */
export const SHEBANG = 2;

/** An error as it crosses the thread boundary, with the index of its path in the request. @internal */
export interface WireError {
  index: number;
  message: string;
  code?: string;
  syscall?: string;
  errno?: number;
}

/** `lstat` each path. @internal */
export interface StatRequest {
  op: "stat";
  id: number;
  paths: string;
}

/** Read, checksum and maybe deflate each file. @internal */
export interface FilesRequest {
  op: "files";
  id: number;
  paths: string;
  /** Listed sizes. */
  sizes: Float64Array;
  /** 1: store without trying to deflate. */
  store: Uint8Array;
  level: number;
}

/** @internal */
export type WorkerRequest = StatRequest | FilesRequest;

/** @internal */
export interface StatReply {
  id: number;
  status: Uint8Array;
  sizes: Float64Array;
  modes: Float64Array;
  mtimes: Float64Array;
  errors: WireError[];
}

/** @internal */
export interface FilesReply {
  id: number;
  /** Every payload, one after the other. */
  buffer: ArrayBuffer;
  status: Uint8Array;
  flags: Uint8Array;
  lengths: Float64Array;
  crcs: Uint32Array;
  sizes: Float64Array;
  errors: WireError[];
}

/** The wire form of a thrown error. @internal */
export function toWireError(index: number, error: unknown): WireError {
  const { message, code, syscall, errno } = (error ?? {}) as Partial<NodeJS.ErrnoException>;
  return {
    index,
    message: String(message),
    ...(code === undefined ? {} : { code }),
    ...(syscall === undefined ? {} : { syscall }),
    ...(errno === undefined ? {} : { errno }),
  };
}
