//! Storage that stays inline for small expressions and spills to the heap beyond them.
//!
//! A server evaluates expressions such as `1+2*3` many thousand times a second, and
//! everything the evaluator keeps along the way — tokens, the postfix program, the
//! operand stacks, the limbs of each integer — is small for them. Keeping the first few
//! items in place means such an expression is lexed, compiled, evaluated and printed
//! without one call to the allocator; a long or huge one spills, and costs what it did.
//! Both types are safe code: the inline part is an array, not uninitialised memory.

use std::ops::{Deref, DerefMut};

/// How many limbs an integer keeps inline: 128 bits, so any product of two `u64`s.
const INLINE_LIMBS: usize = 4;

/// The little-endian `u32` limbs of a big integer's magnitude: a vector of `u32` that
/// keeps up to [`INLINE_LIMBS`] of them in place.
#[derive(Clone, Debug)]
pub(crate) enum Limbs {
    /// `buf[..len]` are the limbs; the rest is unused.
    Inline {
        len: usize,
        buf: [u32; INLINE_LIMBS],
    },
    /// More limbs than fit inline, or were once expected to.
    Heap(Vec<u32>),
}

impl Limbs {
    /// No limbs.
    pub(crate) fn new() -> Self {
        Self::Inline {
            len: 0,
            buf: [0; INLINE_LIMBS],
        }
    }

    /// Room for `n` limbs without moving to the heap on the way.
    pub(crate) fn with_capacity(n: usize) -> Self {
        if n <= INLINE_LIMBS {
            Self::new()
        } else {
            Self::Heap(Vec::with_capacity(n))
        }
    }

    /// `n` zero limbs.
    pub(crate) fn zeroed(n: usize) -> Self {
        if n <= INLINE_LIMBS {
            Self::Inline {
                len: n,
                buf: [0; INLINE_LIMBS],
            }
        } else {
            Self::Heap(vec![0; n])
        }
    }

    /// A copy of `limbs`.
    pub(crate) fn from_slice(limbs: &[u32]) -> Self {
        let mut out = Self::with_capacity(limbs.len());
        out.extend_from_slice(limbs);
        out
    }

    /// Appends one limb, moving to the heap when the inline room is full.
    pub(crate) fn push(&mut self, limb: u32) {
        match self {
            Self::Inline { len, buf } if *len < INLINE_LIMBS => {
                buf[*len] = limb;
                *len += 1;
            }
            Self::Inline { len, buf } => {
                let mut heap = Vec::with_capacity(2 * INLINE_LIMBS);
                heap.extend_from_slice(&buf[..*len]);
                heap.push(limb);
                *self = Self::Heap(heap);
            }
            Self::Heap(heap) => heap.push(limb),
        }
    }

    /// Appends every limb of `limbs`.
    pub(crate) fn extend_from_slice(&mut self, limbs: &[u32]) {
        for &limb in limbs {
            self.push(limb);
        }
    }

    /// Removes the last limb.
    pub(crate) fn pop(&mut self) -> Option<u32> {
        match self {
            Self::Inline { len, buf } => {
                *len = len.checked_sub(1)?;
                Some(buf[*len])
            }
            Self::Heap(heap) => heap.pop(),
        }
    }

    /// Keeps the first `n` limbs.
    pub(crate) fn truncate(&mut self, n: usize) {
        match self {
            Self::Inline { len, .. } => *len = (*len).min(n),
            Self::Heap(heap) => heap.truncate(n),
        }
    }
}

impl Deref for Limbs {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            Self::Inline { len, buf } => &buf[..*len],
            Self::Heap(heap) => heap,
        }
    }
}

impl DerefMut for Limbs {
    fn deref_mut(&mut self) -> &mut [u32] {
        match self {
            Self::Inline { len, buf } => &mut buf[..*len],
            Self::Heap(heap) => heap,
        }
    }
}

/// Equal limbs are equal values, wherever they are stored.
impl PartialEq for Limbs {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Limbs {}

impl FromIterator<u32> for Limbs {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut out = Self::with_capacity(iter.size_hint().0);
        for limb in iter {
            out.push(limb);
        }
        out
    }
}

/// A list that keeps its first `N` items in place and the rest in a `Vec`: the tokens,
/// program and stacks of one evaluation. Items are pushed and popped at the end and
/// taken out in order.
pub(crate) struct SmallList<T, const N: usize> {
    /// `inline[..inline_len]` hold items; the rest are `None`.
    inline: [Option<T>; N],
    inline_len: usize,
    /// Items beyond the first `N`; empty unless `inline` is full.
    spill: Vec<T>,
}

impl<T, const N: usize> SmallList<T, N> {
    /// An empty list (no allocation).
    pub(crate) fn new() -> Self {
        Self {
            inline: std::array::from_fn(|_| None),
            inline_len: 0,
            spill: Vec::new(),
        }
    }

    /// Appends `item`.
    pub(crate) fn push(&mut self, item: T) {
        if self.inline_len < N {
            self.inline[self.inline_len] = Some(item);
            self.inline_len += 1;
        } else {
            self.spill.push(item);
        }
    }

    /// Removes the last item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if let Some(item) = self.spill.pop() {
            return Some(item);
        }
        self.inline_len = self.inline_len.checked_sub(1)?;
        self.inline[self.inline_len].take()
    }

    /// The last item.
    pub(crate) fn last(&self) -> Option<&T> {
        match self.spill.last() {
            Some(item) => Some(item),
            None => self.inline[..self.inline_len].last()?.as_ref(),
        }
    }

    /// How many items the list holds.
    pub(crate) fn len(&self) -> usize {
        self.inline_len + self.spill.len()
    }

    /// Whether the list holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T, const N: usize> IntoIterator for SmallList<T, N> {
    type Item = T;
    type IntoIter = std::iter::Chain<
        std::iter::Flatten<std::array::IntoIter<Option<T>, N>>,
        std::vec::IntoIter<T>,
    >;

    /// The items in the order they were pushed.
    fn into_iter(self) -> Self::IntoIter {
        self.inline.into_iter().flatten().chain(self.spill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limbs behave as a vector across the move from inline to the heap and back down.
    #[test]
    fn limbs_spill_and_shrink() {
        let mut limbs = Limbs::new();
        for i in 0..10 {
            limbs.push(i);
        }
        assert_eq!(&*limbs, &(0..10).collect::<Vec<u32>>()[..]);
        assert!(matches!(limbs, Limbs::Heap(_)));
        limbs.truncate(3);
        assert_eq!(limbs, Limbs::from_slice(&[0, 1, 2]));
        assert_eq!(limbs.pop(), Some(2));
        assert_eq!(Limbs::zeroed(6).len(), 6);
        let mut inline = Limbs::zeroed(2);
        inline[1] = 7;
        assert_eq!(inline.pop(), Some(7));
        assert_eq!(inline.pop(), Some(0));
        assert_eq!(inline.pop(), None);
    }

    /// A small list keeps push/pop order and gives its items back in push order, on
    /// both sides of its inline capacity.
    #[test]
    fn small_list_order() {
        let mut list: SmallList<String, 2> = SmallList::new();
        assert!(list.is_empty() && list.last().is_none());
        for word in ["a", "b", "c", "d"] {
            list.push(word.to_owned());
        }
        assert_eq!(list.len(), 4);
        assert_eq!(list.last().map(String::as_str), Some("d"));
        assert_eq!(list.pop().as_deref(), Some("d"));
        assert_eq!(list.pop().as_deref(), Some("c"));
        assert_eq!(list.last().map(String::as_str), Some("b"));
        list.push("e".to_owned());
        list.push("f".to_owned());
        let all: Vec<String> = list.into_iter().collect();
        assert_eq!(all, ["a", "b", "e", "f"]);
    }
}
