/** Progress of a ZIP build, reported after each entry. */
export interface ZipProgress {
  /** Entries written so far. */
  entries: number;
  totalEntries: number;
  /** Uncompressed bytes read so far. */
  bytes: number;
  totalBytes: number;
}

/** Options of `zipDirectory` and `createZipStream`. */
export interface ZipOptions {
  /**
   * Byte-identical output for identical content: fixed timestamps (1980-01-01),
   * fixed modes (0644, or 0755 for executables), no extra fields.
   * @default false
   */
  deterministic?: boolean;
  /** Deflate level for compressible entries, 0 (store everything) to 9. @default 6 */
  compressionLevel?: number;
  /** Called after each entry. */
  onProgress?: (progress: ZipProgress) => void;
  /** Aborts the build; a partial output file is removed. */
  signal?: AbortSignal;
}

/** Result of `zipDirectory`. */
export interface ZipResult {
  /** Number of file entries. */
  entries: number;
  /** Size of the ZIP in bytes. */
  sizeBytes: number;
}
