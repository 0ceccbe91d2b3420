//! Receive buffers for a connection's large response frames (fetch answers of megabytes),
//! reused instead of allocated per frame.
//!
//! A frame is read into a pooled buffer and handed out as `Bytes` that share its allocation.
//! Once every `Bytes` cut from a buffer is dropped, `BytesMut::try_reclaim` gets the whole
//! allocation back for the next frame. A fresh multi-megabyte allocation per answer costs a
//! page fault per 4 KiB whenever the allocator has given the memory back to the kernel, and
//! on a VM whose free memory goes back to the host each of those faults is slow; reusing the
//! buffers keeps their pages mapped.
//!
//! Bounds: at most [`SLOTS`] pooled buffers, each at most [`MAX_POOLED`] bytes, so a
//! connection keeps at most `SLOTS * MAX_POOLED` bytes for reuse; frames under [`MIN_POOLED`]
//! or over [`MAX_POOLED`], and frames arriving while every slot is still in use, get an
//! allocation of their own as before.

use bytes::{Bytes, BytesMut};

/// Frames below this size are allocated per frame (small answers are cheap).
pub const MIN_POOLED: usize = 1 << 20;
/// Frames above this size are allocated per frame (the pool stays bounded).
pub const MAX_POOLED: usize = 64 << 20;
/// Pooled buffers per connection: a consumer holding a few answers while it fetches the
/// next still finds one free.
pub const SLOTS: usize = 4;

/// The pool of one connection's reader (not shared: the reader task owns it).
#[derive(Debug, Default)]
pub struct FrameBuffers {
    /// Buffers whose allocation may still be shared with frames handed out.
    slots: Vec<BytesMut>,
    /// The slot a new buffer replaces when none can be reclaimed (round robin): a slot too
    /// small for the frames now arriving does not stay in the pool for good.
    next_replaced: usize,
}

/// Where one frame is being read.
#[derive(Debug)]
pub enum FrameTarget {
    /// Into pooled slot `i`.
    Pooled(usize),
    /// Into an allocation of its own.
    Own(BytesMut),
}

impl FrameBuffers {
    /// Picks a buffer with room for a frame of `size` bytes: a pooled one whose earlier
    /// frames are all dropped, else a new one in the pool (in a free slot, or replacing one
    /// round robin: frames still holding the replaced allocation keep it until they drop), or
    /// for sizes outside the pooled range an allocation of its own.
    pub fn target(&mut self, size: usize) -> FrameTarget {
        if !(MIN_POOLED..=MAX_POOLED).contains(&size) {
            return FrameTarget::Own(BytesMut::with_capacity(size));
        }
        if let Some(i) = self.slots.iter_mut().position(|s| s.try_reclaim(size)) {
            return FrameTarget::Pooled(i);
        }
        let fresh = BytesMut::with_capacity(size);
        if self.slots.len() < SLOTS {
            self.slots.push(fresh);
            return FrameTarget::Pooled(self.slots.len() - 1);
        }
        let i = self.next_replaced % SLOTS;
        self.next_replaced = self.next_replaced.wrapping_add(1);
        self.slots[i] = fresh;
        FrameTarget::Pooled(i)
    }

    /// The buffer `target` reads into; its length is the bytes read so far.
    pub fn buffer<'a>(&'a mut self, target: &'a mut FrameTarget) -> &'a mut BytesMut {
        match target {
            FrameTarget::Pooled(i) => &mut self.slots[*i],
            FrameTarget::Own(buf) => buf,
        }
    }

    /// The frame read into `target` (all of its bytes), as `Bytes` sharing the buffer.
    pub fn finish(&mut self, target: FrameTarget) -> Bytes {
        match target {
            FrameTarget::Pooled(i) => {
                let slot = &mut self.slots[i];
                slot.split_to(slot.len()).freeze()
            }
            FrameTarget::Own(buf) => buf.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn read(pool: &mut FrameBuffers, size: usize, fill: u8) -> (Bytes, bool) {
        let mut t = pool.target(size);
        let pooled = matches!(t, FrameTarget::Pooled(_));
        pool.buffer(&mut t).put_bytes(fill, size);
        (pool.finish(t), pooled)
    }

    #[test]
    fn a_buffer_comes_back_once_its_frames_are_dropped() {
        let mut pool = FrameBuffers::default();
        let (a, pooled) = read(&mut pool, 2 << 20, 1);
        assert!(pooled);
        let first = a.as_ptr();
        drop(a);
        let (b, _) = read(&mut pool, 2 << 20, 2);
        assert_eq!(b.as_ptr(), first, "the same allocation is read into again");
        assert!(b.iter().all(|&x| x == 2));
    }

    #[test]
    fn frames_still_held_are_never_written_over() {
        let mut pool = FrameBuffers::default();
        let held: Vec<Bytes> = (0..SLOTS + 2)
            .map(|i| read(&mut pool, 1 << 20, i as u8).0)
            .collect();
        for (i, frame) in held.iter().enumerate() {
            assert!(frame.iter().all(|&x| x == i as u8), "frame {i} intact");
            assert_eq!(frame.len(), 1 << 20);
        }
        assert_eq!(pool.slots.len(), SLOTS, "the pool stays bounded");
        // A slice kept from a frame keeps its slot busy.
        let slice = held[0].slice(10..20);
        drop(held);
        let (c, _) = read(&mut pool, 1 << 20, 9);
        assert!(slice.iter().all(|&x| x == 0));
        assert!(c.iter().all(|&x| x == 9));
    }

    #[test]
    fn slots_too_small_for_the_frames_now_arriving_are_replaced() {
        let mut pool = FrameBuffers::default();
        let small: Vec<Bytes> = (0..SLOTS).map(|_| read(&mut pool, 1 << 20, 1).0).collect();
        assert_eq!(pool.slots.len(), SLOTS);
        drop(small);
        let (big, pooled) = read(&mut pool, 8 << 20, 2);
        assert!(pooled);
        let at = big.as_ptr();
        drop(big);
        let (again, _) = read(&mut pool, 8 << 20, 3);
        assert_eq!(again.as_ptr(), at, "the replacing buffer is reused");
        assert!(again.iter().all(|&x| x == 3));
        assert_eq!(pool.slots.len(), SLOTS);
    }

    #[test]
    fn small_and_huge_frames_are_not_pooled() {
        let mut pool = FrameBuffers::default();
        assert!(!read(&mut pool, 100, 0).1);
        assert!(!read(&mut pool, MAX_POOLED + 1, 0).1);
        assert!(pool.slots.is_empty());
    }
}
