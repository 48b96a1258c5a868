//! Properties of movement and perception on random maps.

mod common;

use std::collections::VecDeque;

use hamlet_core::town::Tile;
use hamlet_town::{visible, World};
use proptest::prelude::*;

const W: usize = 12;
const H: usize = 8;

/// A random map: a border of walls, random inner walls, every other tile street.
fn world(walls: &[bool], vision: u16, attention: usize) -> (tempfile::TempDir, World) {
    let d = tempfile::tempdir().expect("tmp");
    let mut rows = Vec::new();
    for y in 0..H {
        let row: String = (0..W)
            .map(|x| {
                if x == 0 || y == 0 || x == W - 1 || y == H - 1 || walls[y * W + x] {
                    '#'
                } else {
                    '.'
                }
            })
            .collect();
        rows.push(row);
    }
    common::write(&d.path().join("map.txt"), &(rows.join("\n") + "\n"));
    common::write(
        &d.path().join("world.toml"),
        &format!("name = \"P\"\nmap = \"map.txt\"\nvision = {vision}\nattention = {attention}\n[legend]\n"),
    );
    let w = World::load(d.path()).expect("world");
    (d, w)
}

/// Breadth-first distances, written independently of the crate's path search.
fn distance(w: &World, a: Tile, b: Tile) -> Option<usize> {
    let mut seen = [false; W * H];
    let mut q = VecDeque::from([(a, 0)]);
    seen[a.y as usize * W + a.x as usize] = true;
    while let Some((t, d)) = q.pop_front() {
        if t == b {
            return Some(d);
        }
        let (x, y) = (t.x as i32, t.y as i32);
        for (nx, ny) in [(x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)] {
            if nx < 0 || ny < 0 || nx >= W as i32 || ny >= H as i32 {
                continue;
            }
            let n = Tile::new(nx as u16, ny as u16);
            if w.walkable(n) && !seen[ny as usize * W + nx as usize] {
                seen[ny as usize * W + nx as usize] = true;
                q.push_back((n, d + 1));
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn paths_are_shortest_walkable_and_connected(
        walls in proptest::collection::vec(proptest::bool::weighted(0.25), W * H),
        a in (1u16..W as u16 - 1, 1u16..H as u16 - 1),
        b in (1u16..W as u16 - 1, 1u16..H as u16 - 1),
    ) {
        let (_d, w) = world(&walls, 4, 3);
        let (a, b) = (Tile::new(a.0, a.1), Tile::new(b.0, b.1));
        prop_assume!(w.walkable(a) && w.walkable(b));
        match (w.path(a, b), distance(&w, a, b)) {
            (Some(p), Some(d)) => {
                prop_assert_eq!(p.len(), d + 1);
                prop_assert_eq!(p[0], a);
                prop_assert_eq!(*p.last().expect("non-empty"), b);
                for s in p.windows(2) {
                    prop_assert!(w.walkable(s[1]));
                    prop_assert_eq!(s[0].x.abs_diff(s[1].x) + s[0].y.abs_diff(s[1].y), 1);
                }
            }
            (None, None) => {}
            (p, d) => prop_assert!(false, "path {:?} but distance {:?}", p, d),
        }
    }

    #[test]
    fn perception_sees_the_nearest_within_vision_up_to_attention(
        spots in proptest::collection::vec((0u16..W as u16, 0u16..H as u16), 1..10),
        vision in 0u16..6,
        attention in 0usize..5,
    ) {
        let (_d, w) = world(&[false; W * H], vision, attention);
        let agents: Vec<(String, Tile)> = spots.iter().enumerate().map(|(i, (x, y))| (format!("a{i:02}"), Tile::new(*x, *y))).collect();
        let me = agents[0].1;
        let seen = visible(&w, 0, &agents);
        prop_assert!(seen.len() <= attention);
        prop_assert!(!seen.contains(&agents[0].0));
        let dist = |n: &str| agents.iter().find(|(m, _)| m == n).map(|(_, t)| t.dist(me)).unwrap_or(u16::MAX);
        for n in &seen {
            prop_assert!(dist(n) <= vision);
        }
        // Nobody unseen within vision is nearer than someone seen, and the bandwidth is used.
        let far = seen.iter().map(|n| dist(n)).max().unwrap_or(0);
        let in_range = agents.iter().skip(1).filter(|(_, t)| t.dist(me) <= vision).count();
        prop_assert_eq!(seen.len(), in_range.min(attention));
        for (n, t) in agents.iter().skip(1) {
            if !seen.contains(n) && t.dist(me) <= vision {
                prop_assert!(t.dist(me) >= far);
            }
        }
    }
}
