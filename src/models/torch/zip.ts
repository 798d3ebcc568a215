import { inflateRawSync } from 'node:zlib';
import { inputError } from '../../engine/errors.js';

/**
 * A minimal reader for the zip archives `torch.save` writes (PKWARE APPNOTE 6.3): it trusts only the
 * central directory (torch sets general-purpose bit 3, so local headers carry zero sizes), follows
 * zip64 records when a field is saturated, supports STORED and DEFLATE entries, and checks every
 * entry's CRC-32 so flipped bytes surface as an error instead of silently wrong weights.
 * Written here rather than pulled from npm because torch archives need ~150 lines of it and no
 * streaming, encryption or writing.
 */

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc32: number;
  localHeaderOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO-HDLC, the zip/PNG polynomial 0xEDB88320). */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** True when the bytes start like a zip archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly where: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  private corrupt(problem: string): Error {
    return inputError(this.where, `corrupted zip archive: ${problem}`);
  }

  private u16(at: number): number {
    if (at + 2 > this.bytes.length) throw this.corrupt('record runs past the end of the file');
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    if (at + 4 > this.bytes.length) throw this.corrupt('record runs past the end of the file');
    return this.view.getUint32(at, true);
  }

  private u64(at: number): number {
    if (at + 8 > this.bytes.length) throw this.corrupt('record runs past the end of the file');
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.corrupt('64-bit field out of range');
    return Number(v);
  }

  private findEndOfCentralDirectory(): number {
    // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
    const earliest = Math.max(0, this.bytes.length - 22 - 0xffff);
    for (let at = this.bytes.length - 22; at >= earliest; at--) {
      if (this.view.getUint32(at, true) === SIG_EOCD) return at;
    }
    throw this.corrupt('no end-of-central-directory record (truncated file?)');
  }

  private readCentralDirectory(): void {
    if (this.bytes.length < 22) throw this.corrupt('file too short');
    const eocd = this.findEndOfCentralDirectory();
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const locator = eocd - 20;
      if (locator < 0 || this.u32(locator) !== SIG_ZIP64_LOCATOR) throw this.corrupt('zip64 locator missing');
      const record = this.u64(locator + 8);
      if (this.u32(record) !== SIG_ZIP64_EOCD) throw this.corrupt('zip64 end-of-central-directory record missing');
      count = this.u64(record + 32);
      cdSize = this.u64(record + 40);
      cdOffset = this.u64(record + 48);
    }
    if (cdOffset + cdSize > this.bytes.length) throw this.corrupt('central directory lies beyond the end of the file');
    let at = cdOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(at) !== SIG_CENTRAL) throw this.corrupt(`central directory entry ${i} has a bad signature`);
      const flags = this.u16(at + 8);
      const method = this.u16(at + 10);
      const crc = this.u32(at + 16);
      let compressedSize = this.u32(at + 20);
      let uncompressedSize = this.u32(at + 24);
      const nameLength = this.u16(at + 28);
      const extraLength = this.u16(at + 30);
      const commentLength = this.u16(at + 32);
      let localHeaderOffset = this.u32(at + 42);
      if (at + 46 + nameLength > this.bytes.length) throw this.corrupt('entry name runs past the end of the file');
      const name = new TextDecoder().decode(this.bytes.subarray(at + 46, at + 46 + nameLength));
      if (flags & 1) throw inputError(this.where, `zip entry ${name} is encrypted`);
      // Zip64 extended information: the saturated 32-bit fields follow, in this order.
      let extra = at + 46 + nameLength;
      const extraEnd = extra + extraLength;
      while (extra + 4 <= extraEnd) {
        const id = this.u16(extra);
        const size = this.u16(extra + 2);
        if (id === 0x0001) {
          let field = extra + 4;
          if (uncompressedSize === 0xffffffff) (uncompressedSize = this.u64(field)), (field += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.u64(field)), (field += 8);
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(field);
        }
        extra += 4 + size;
      }
      this.entries.set(name, { name, method, compressedSize, uncompressedSize, crc32: crc, localHeaderOffset });
      at = extraEnd + commentLength;
    }
  }

  /** The uncompressed bytes of an entry, CRC-checked; throws InputError if absent or damaged. */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw inputError(this.where, `zip entry ${name} is missing`);
    const local = entry.localHeaderOffset;
    if (this.u32(local) !== SIG_LOCAL) throw this.corrupt(`local header of ${name} has a bad signature`);
    const start = local + 30 + this.u16(local + 26) + this.u16(local + 28);
    const end = start + entry.compressedSize;
    if (end > this.bytes.length) throw this.corrupt(`data of ${name} runs past the end of the file (truncated file?)`);
    const raw = this.bytes.subarray(start, end);
    let data: Uint8Array;
    if (entry.method === 0) data = raw;
    else if (entry.method === 8) {
      // Deflate cannot compress better than about 1032:1; a directory that claims more is lying, and
      // believing it would let a small file ask for gigabytes.
      if (entry.uncompressedSize > entry.compressedSize * 1032 + 1024)
        throw this.corrupt(`${name} claims ${entry.uncompressedSize} bytes from ${entry.compressedSize} compressed, more than deflate can produce`);
      try {
        // The cap stops a deflate bomb from inflating past what the directory declares.
        data = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
      } catch (err) {
        throw this.corrupt(`cannot inflate ${name} (${(err as Error).message})`);
      }
    } else throw inputError(this.where, `zip entry ${name} uses compression method ${entry.method}`, '0 (stored), 8 (deflate)');
    if (data.length !== entry.uncompressedSize)
      throw this.corrupt(`${name} holds ${data.length} bytes, the directory says ${entry.uncompressedSize}`);
    if (crc32(data) !== entry.crc32) throw this.corrupt(`CRC-32 mismatch in ${name} (the file is damaged)`);
    return data;
  }
}
