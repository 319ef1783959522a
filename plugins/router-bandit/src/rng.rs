//! The router's own seeded RNG, saved with its exact position so a resumed run draws the same
//! numbers as an uninterrupted one.

use lrpo_core::{Error, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Where a ChaCha8 stream stands: seed (hex), stream id and word position (decimal string,
/// since JSON numbers cannot hold a u128 exactly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: String,
    pub stream: u64,
    pub word_pos: String,
}

pub fn seeded(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn save(rng: &ChaCha8Rng) -> RngState {
    let seed = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
    RngState { seed, stream: rng.get_stream(), word_pos: rng.get_word_pos().to_string() }
}

pub fn restore(state: &RngState) -> Result<ChaCha8Rng> {
    let bad = |what: &str| Error::State(format!("rng.{what} is malformed"));
    if state.seed.len() != 64 || !state.seed.is_ascii() {
        return Err(bad("seed (expected 64 hex digits)"));
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&state.seed[2 * i..2 * i + 2], 16).map_err(|_| bad("seed"))?;
    }
    let word_pos: u128 = state.word_pos.parse().map_err(|_| bad("word_pos"))?;
    let mut rng = ChaCha8Rng::from_seed(seed);
    rng.set_stream(state.stream);
    rng.set_word_pos(word_pos);
    Ok(rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn restored_rng_continues_the_stream() {
        let mut rng = seeded(5);
        let _: Vec<f64> = (0..17).map(|_| rng.gen()).collect();
        let mut copy = restore(&save(&rng)).unwrap();
        let a: Vec<u64> = (0..9).map(|_| rng.gen()).collect();
        let b: Vec<u64> = (0..9).map(|_| copy.gen()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn malformed_state_is_an_error() {
        let mut s = save(&seeded(1));
        s.word_pos = "x".into();
        assert!(restore(&s).unwrap_err().to_string().contains("rng.word_pos"));
        s = save(&seeded(1));
        s.seed.truncate(10);
        assert!(restore(&s).unwrap_err().to_string().contains("rng.seed"));
    }
}
