//! Header numbers parsed byte by byte, exactly like Redis's `string2ll`.

/// A number being parsed, like Redis' `string2ll`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Num {
    pub(super) val: u64,
    /// Bytes after the type byte (sign included).
    pub(super) chars: u64,
    pub(super) digits: u32,
    pub(super) neg: bool,
    /// First digit was `0`.
    pub(super) zero: bool,
    /// Not a valid `i64` (decided at `\r`).
    pub(super) bad: bool,
    /// `\r` seen, `\n` expected.
    pub(super) cr: bool,
}

impl Num {
    pub(super) const NEW: Num = Num {
        val: 0,
        chars: 0,
        digits: 0,
        neg: false,
        zero: false,
        bad: false,
        cr: false,
    };

    #[inline]
    pub(super) fn digit(&mut self, c: u8) {
        let d = u64::from(c - b'0');
        if self.digits == 0 {
            if d == 0 {
                // "0" alone is fine; "-0" and leading zeros are not.
                self.zero = true;
                self.bad |= self.neg;
            }
        } else if self.zero {
            self.bad = true;
        }
        match self.val.checked_mul(10).and_then(|v| v.checked_add(d)) {
            Some(v) => self.val = v,
            None => self.bad = true,
        }
        self.digits = self.digits.saturating_add(1);
        self.chars += 1;
    }

    #[inline]
    pub(super) fn value(&self) -> Option<i64> {
        if self.bad || self.digits == 0 {
            return None;
        }
        if self.neg {
            if self.val > 1u64 << 63 {
                None
            } else {
                Some((self.val as i64).wrapping_neg())
            }
        } else {
            i64::try_from(self.val).ok()
        }
    }
}
