//! Scoring properties: all else equal, a more recent, more important or more relevant memory
//! never ranks lower (and ranks higher whenever the difference survives normalisation).

use hamlet_memory::score::{rank, recency, Candidate};
use hamlet_memory::{Fusion, Scoring, Weights};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000;

fn candidate() -> impl Strategy<Value = Candidate> {
    (1i64..1_000_000, 1u8..=10, 0i64..5_000 * HOUR, 0.0f32..1.0).prop_map(
        |(id, importance, ago, relevance)| Candidate {
            id,
            importance,
            last_accessed: 10_000 * HOUR - ago,
            relevance,
        },
    )
}

fn scoring() -> impl Strategy<Value = Scoring> {
    (0.01f32..3.0, 0.01f32..3.0, 0.01f32..3.0, 0.9f64..0.9999).prop_map(|(r, i, v, d)| Scoring {
        weights: Weights {
            recency: r,
            importance: i,
            relevance: v,
        },
        decay_per_hour: d,
        fusion: Fusion::default(),
    })
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Recency,
    Importance,
    Relevance,
}

/// Ranks `others + [a, b]` where `b` is `a` improved in one part; checks b is not below a.
fn check(others: &[Candidate], a: Candidate, part: Part, s: &Scoring) -> Result<(), TestCaseError> {
    let now = 10_000 * HOUR;
    let mut b = a;
    b.id = a.id + 1_000_000; // distinct id, same everything else
    match part {
        Part::Recency => b.last_accessed = (a.last_accessed + HOUR).min(now),
        Part::Importance => b.importance = (a.importance + 1).min(10),
        Part::Relevance => b.relevance = a.relevance + 0.25,
    }
    let mut all = others.to_vec();
    all.push(a);
    all.push(b);
    let ranked = rank(&all, now, s);
    let pos = |id| ranked.iter().position(|x| x.id == id).unwrap();
    let (ra, rb) = (ranked[pos(a.id)], ranked[pos(b.id)]);
    prop_assert!(rb.score >= ra.score, "{part:?}: {rb:?} scored below {ra:?}");
    let better = match part {
        Part::Recency => rb.recency > ra.recency,
        Part::Importance => rb.importance > ra.importance,
        Part::Relevance => rb.relevance > ra.relevance,
    };
    if better {
        prop_assert!(
            pos(b.id) < pos(a.id),
            "{part:?}: {rb:?} ranked below {ra:?}"
        );
    }
    // Ranking is by score, and every part is normalised to 0..=1.
    prop_assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    for x in &ranked {
        for v in [x.recency, x.importance, x.relevance] {
            prop_assert!((0.0..=1.0).contains(&v), "{x:?}");
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn more_recent_never_ranks_lower(others in prop::collection::vec(candidate(), 0..20), a in candidate(), s in scoring()) {
        check(&others, a, Part::Recency, &s)?;
    }

    #[test]
    fn more_important_never_ranks_lower(others in prop::collection::vec(candidate(), 0..20), a in candidate(), s in scoring()) {
        check(&others, a, Part::Importance, &s)?;
    }

    #[test]
    fn more_relevant_never_ranks_lower(others in prop::collection::vec(candidate(), 0..20), a in candidate(), s in scoring()) {
        check(&others, a, Part::Relevance, &s)?;
    }

    #[test]
    fn recency_decreases_with_time_since_access(t in 0i64..100_000 * HOUR, d in 1i64..1000 * HOUR, decay in 0.9f64..0.9999) {
        let now = 200_000 * HOUR;
        prop_assert!(recency(now - t, now, decay) >= recency(now - t - d, now, decay));
    }
}
