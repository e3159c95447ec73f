//! Buffers for large values that come back when the caller drops the value.
//!
//! A large data block is read into a buffer of its own (see [`super::decoder`]). Taken
//! fresh from the allocator every time, that buffer costs more than the bytes in it:
//! for a value of a few hundred KiB the allocator maps new pages (or has just given
//! them back to the kernel), so the kernel's copy into it faults every page in and
//! clears it first, and a profile of 16 tasks reading 512 KiB values spent more time
//! on that than on the copy itself. So the value handed out owns its buffer through a
//! [`Returned`], which gives the buffer back to its connection's [`Recycler`] when the
//! last `Bytes` of the value is dropped; the next large value reuses it, its pages
//! already in place.
//!
//! Bounded both ways: the recycler holds at most [`MAX_HELD`] bytes in at most
//! [`MAX_BUFFERS`] buffers (more is freed), and a buffer is reused only for a block
//! that fills at least [`REUSE_FILL`] of it, so a value never holds much more memory
//! than its size (issue 14: at most ~1.1×). When the connection is gone, buffers are
//! freed as their values drop.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;

/// The most bytes of free buffers one recycler keeps.
pub const MAX_HELD: usize = 4 << 20;
/// The most free buffers one recycler keeps.
pub const MAX_BUFFERS: usize = 16;
/// A free buffer is reused for a block of `len` bytes only if `len` is at least this
/// fraction of its capacity (as parts per 1024: 0.91).
const REUSE_FILL: usize = 932;

/// One connection's free large-value buffers.
#[derive(Debug, Default, Clone)]
pub struct Recycler {
    free: Arc<Mutex<Free>>,
}

#[derive(Debug, Default)]
struct Free {
    buffers: Vec<Vec<u8>>,
    held: usize,
}

impl Recycler {
    /// An empty vector with room for at least `need` bytes (and not much more): a free
    /// buffer of the right size if there is one, a new one otherwise.
    pub fn take(&self, need: usize) -> Vec<u8> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        let fits = |b: &Vec<u8>| b.capacity() >= need && need * 1024 >= b.capacity() * REUSE_FILL;
        if let Some(i) = free.buffers.iter().position(fits) {
            let buf = free.buffers.swap_remove(i);
            free.held -= buf.capacity();
            return buf;
        }
        drop(free);
        Vec::with_capacity(need)
    }

    /// `buf[..len]` as `Bytes`, giving `buf` back to this recycler when the last
    /// handle to it is dropped.
    pub fn freeze(&self, mut buf: Vec<u8>, len: usize) -> Bytes {
        buf.truncate(len);
        Bytes::from_owner(Returned {
            buf,
            home: Arc::downgrade(&self.free),
        })
    }

    /// Bytes held in free buffers (for monitoring memory).
    pub fn held(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).held
    }
}

/// A value's buffer, on its way back to the recycler it came from.
struct Returned {
    buf: Vec<u8>,
    home: Weak<Mutex<Free>>,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let Some(home) = self.home.upgrade() else {
            return;
        };
        let mut free = home.lock().unwrap_or_else(|e| e.into_inner());
        let cap = self.buf.capacity();
        if free.buffers.len() < MAX_BUFFERS && free.held + cap <= MAX_HELD {
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            free.held += cap;
            free.buffers.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_value_gives_its_buffer_back() {
        let r = Recycler::default();
        let mut buf = r.take(100_002);
        let ptr = buf.as_ptr();
        buf.extend_from_slice(&[7; 100_002]);
        let value = r.freeze(buf, 100_000);
        assert_eq!(value.len(), 100_000);
        assert_eq!(r.held(), 0);
        let clone = value.slice(10..20);
        drop(value);
        assert_eq!(r.held(), 0, "a slice still holds it");
        drop(clone);
        assert!(r.held() >= 100_002);
        // A block of about that size reuses it; a much smaller one does not.
        let small = r.take(50_000);
        assert_ne!(small.as_ptr(), ptr);
        let again = r.take(100_002);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty());
        assert_eq!(r.held(), 0);
    }

    #[test]
    fn bounded_and_harmless_once_the_connection_is_gone() {
        let r = Recycler::default();
        let values: Vec<Bytes> = (0..MAX_BUFFERS + 4)
            .map(|_| {
                let mut b = r.take(1000);
                b.resize(1000, 1);
                r.freeze(b, 1000)
            })
            .collect();
        drop(values);
        assert!(r.held() <= MAX_BUFFERS * 1100);
        let big: Vec<Bytes> = (0..3)
            .map(|_| {
                let mut b = r.take(MAX_HELD / 2);
                b.resize(MAX_HELD / 2, 1);
                r.freeze(b, MAX_HELD / 2)
            })
            .collect();
        drop(big);
        assert!(r.held() <= MAX_HELD);
        let mut b = r.take(5000);
        b.resize(5000, 1);
        let orphan = r.freeze(b, 5000);
        drop(r);
        assert_eq!(orphan.len(), 5000);
        drop(orphan); // freed, not returned: nothing to return it to
    }
}
