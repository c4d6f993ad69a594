/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layer index on-disk format (see include/strata/layer.h for the outline).
 * Everything little endian.  The index is one byte string:
 *
 *   header      LX_HDR_SIZE bytes at offset 0
 *   inodes      ninodes x LX_INODE_SIZE, inode i at inode_off + (i-1)*size
 *   dirents     ndirents x LX_DIRENT_SIZE, one run per directory, sorted
 *               by name bytes (memcmp, then length)
 *   xattrs      nxattrs x LX_XATTR_SIZE, one run per inode, in tar order
 *   chunks      nchunks x LX_CHUNK_SIZE, one run per data-bearing entry
 *               (file offsets ascending), then the skeleton's run
 *   rebuild     nrebuild x LX_REBUILD_SIZE, ascending tar entry index
 *   heap        names, link targets, xattr names and values
 *
 * header: "STLAYER1", u32 version, u32 header size, diff_id[32], u64
 * total_len, u64 tar_size, u64 file_bytes, u64 ninodes, u64 inode_off,
 * u64 ndirents, u64 dirent_off, u64 nxattrs, u64 xattr_off, u64 nchunks,
 * u64 chunk_off, u64 nrebuild, u64 rebuild_off, u64 heap_off, u64
 * heap_len, u64 skel_chunk_start, u64 skel_chunk_count, u64
 * skeleton_bytes, u64 nentries, u32 npieces, u32 piece_size, zero to the
 * header size.
 * inode: u32 mode, u32 nlink, u64 uid, u64 gid, u64 size, {s64 sec, u32
 * nsec} mtime, u32 flags, {s64, u32} atime, u32 rdev_major, {s64, u32}
 * ctime, u32 rdev_minor, u64 data, u64 data2, u32 xattr_start, u32
 * xattr_count, u32 parent, u32 0.  data/data2: directory: first dirent,
 * count; regular file: first chunk, count; symlink: heap offset, length.
 * dirent: u64 name heap offset, u32 name length, u32 ino.
 * xattr: u64 name heap offset, u32 name length, u32 value length, u64
 * value heap offset.
 * chunk: id[32], u64 file offset, u32 length, u32 0.
 * rebuild: u64 tar entry index, u64 first chunk, u32 count, u32 0.
 */
#ifndef STRATA_LAYER_INTERNAL_H
#define STRATA_LAYER_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "strata/image.h"
#include "strata/store.h"

#define LX_MAGIC "STLAYER1"
#define LX_VERSION 1u
#define LX_HDR_SIZE 256u
#define LX_INODE_SIZE 112u
#define LX_DIRENT_SIZE 16u
#define LX_XATTR_SIZE 24u
#define LX_CHUNK_SIZE 48u
#define LX_REBUILD_SIZE 24u
#define LX_MAX_INODES 0xfffffff0ull /* inode numbers are u32 in dirents */

struct lx_header {
	struct image_digest diff_id;
	uint64_t total_len, tar_size, file_bytes;
	uint64_t ninodes, inode_off;
	uint64_t ndirents, dirent_off;
	uint64_t nxattrs, xattr_off;
	uint64_t nchunks, chunk_off;
	uint64_t nrebuild, rebuild_off;
	uint64_t heap_off, heap_len;
	uint64_t skel_chunk_start, skel_chunk_count, skeleton_bytes;
	uint64_t nentries;
	uint32_t npieces, piece_size;
};

struct lx_inode {
	uint32_t mode, nlink;
	uint64_t uid, gid, size;
	int64_t mtime_sec, atime_sec, ctime_sec;
	uint32_t mtime_nsec, atime_nsec, ctime_nsec;
	uint32_t flags, rdev_major, rdev_minor;
	uint64_t data, data2;
	uint32_t xattr_start, xattr_count, parent;
};

static inline void lx_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}
static inline void lx_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void lx_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t lx_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t lx_get64(const uint8_t *p)
{
	return (uint64_t)lx_get32(p) | (uint64_t)lx_get32(p + 4) << 32;
}

void lx_header_encode(const struct lx_header *h, uint8_t out[LX_HDR_SIZE]);
/* Parse and bound-check a header; -EBADMSG (logged with name) when wrong. */
int lx_header_decode(const uint8_t *in, size_t len, struct lx_header *h);
void lx_inode_encode(const struct lx_inode *in, uint8_t out[LX_INODE_SIZE]);
void lx_inode_decode(const uint8_t in[LX_INODE_SIZE], struct lx_inode *out);

#endif
