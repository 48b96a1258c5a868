//! World, persona and scenario files: the shipped town loads, and broken files give errors that
//! name the file, the line and the fix.

mod common;

use common::{smallville, tiny_world, write};
use hamlet_town::{Persona, Scenario, World};

#[test]
fn smallville_loads_with_its_personas_and_scenarios() {
    let world = World::load(&smallville()).expect("world loads");
    assert!(
        world.arenas.len() + world.objects.len() >= 20,
        "about 20–30 places"
    );
    let personas = Persona::load_dir(&world.agents_dir, &world).expect("personas load");
    assert!(
        personas.len() >= 10,
        "at least 10 personas, got {}",
        personas.len()
    );
    for name in ["valentines", "election"] {
        let sc = Scenario::load(&Scenario::find(&world, name), &world, &personas)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!sc.checks.is_empty() && !sc.topics.is_empty());
    }
    // Every routine place is reachable from every home (checked on load) and paths are real.
    let a = world.arenas["Rodriguez Home:bedroom"][0];
    let b = world.arenas["Johnson Park:pond"][0];
    assert!(world.path(a, b).is_some());
}

/// A folder holding the tiny world, its personas and scenario.
fn tiny() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tmp");
    tiny_world(d.path());
    d
}

fn err_of(r: Result<impl std::fmt::Debug, hamlet_town::Error>) -> String {
    r.expect_err("should fail").to_string()
}

/// The error of loading `text` as `scenarios/bad.toml` of the tiny world.
fn scenario_error(text: &str) -> String {
    let d = tiny();
    let dir = d.path();
    let world = World::load(dir).expect("world");
    let personas = Persona::load_dir(&world.agents_dir, &world).expect("personas");
    let f = dir.join("scenarios/bad.toml");
    write(&f, text);
    err_of(Scenario::load(&f, &world, &personas))
}

#[test]
fn bad_grid_names_file_line_and_fix() {
    let d = tiny();
    write(
        &d.path().join("map.txt"),
        "#############\n#aaa.....bbb#\n#aaa....bbb#\n#############\n",
    );
    let e = err_of(World::load(d.path()));
    assert!(e.contains("map.txt:3") && e.contains("same width"), "{e}");

    write(
        &d.path().join("map.txt"),
        "#############\n#aaa..x..bbb#\n#############\n",
    );
    let e = err_of(World::load(d.path()));
    assert!(
        e.contains("map.txt:2") && e.contains("'x'") && e.contains("legend"),
        "{e}"
    );
}

#[test]
fn unknown_place_names_line_and_known_places() {
    let d = tiny();
    let world = World::load(d.path()).expect("world");
    let f = d.path().join("agents/ann.toml");
    write(&f, "name = \"Ann\"\nage = 30\noccupation = \"x\"\nhome = \"Home:room\"\nwake = \"07:00\"\nsleep = \"22:00\"\n[[routine]]\nat = \"08:00\"\nplace = \"Bakery:oven\"\nactivity = \"bake\"\n");
    let e = err_of(Persona::load(&f, &world));
    assert!(
        e.contains("ann.toml:9")
            && e.contains("unknown place \"Bakery:oven\"")
            && e.contains("\"Cafe:room\""),
        "{e}"
    );
}

#[test]
fn unreachable_spawn_is_reported() {
    let d = tiny();
    // A walled-off room 'c'.
    write(
        &d.path().join("map.txt"),
        "#############\n#aaa.....bbb#\n#aaa.....bbb#\n######c######\n#############\n",
    );
    write(&d.path().join("world.toml"), "name = \"Tiny\"\nmap = \"map.txt\"\nagents = \"agents\"\n[legend]\na = \"Home:room\"\nb = \"Cafe:room\"\nc = \"Cell:room\"\n");
    let world = World::load(d.path()).expect("world");
    let f = d.path().join("agents/ann.toml");
    write(&f, "name = \"Ann\"\nage = 30\noccupation = \"x\"\nhome = \"Home:room\"\nspawn = [1, 0]\nwake = \"07:00\"\nsleep = \"22:00\"\n");
    let e = err_of(Persona::load(&f, &world));
    assert!(e.contains("ann.toml:5") && e.contains("wall"), "{e}");
    // A walkable tile of the map that no path joins to the street: put the spawn there.
    write(&d.path().join("map.txt"), "#############\n#aaa.....bbb#\n#aaa.....bbb#\n#############\n######c######\n#############\n");
    let world = World::load(d.path()).expect("world");
    write(&f, "name = \"Ann\"\nage = 30\noccupation = \"x\"\nhome = \"Cell:room\"\nwake = \"07:00\"\nsleep = \"22:00\"\n");
    let e = err_of(Persona::load(&f, &world));
    assert!(
        e.contains("ann.toml:4") && e.contains("unreachable spawn"),
        "{e}"
    );
}

#[test]
fn malformed_times_name_line_and_format() {
    let d = tiny();
    let e =
        scenario_error("name = \"bad\"\n\n[[event]]\nat = \"day 1 25:00\"\ndescription = \"x\"\n");
    assert!(
        e.contains("bad.toml:4") && e.contains("malformed time") && e.contains("day N HH:MM"),
        "{e}"
    );

    let world = World::load(d.path()).expect("world");
    let p = d.path().join("agents/ann.toml");
    write(&p, "name = \"Ann\"\nage = 30\noccupation = \"x\"\nhome = \"Home:room\"\nwake = \"7am\"\nsleep = \"22:00\"\n");
    let e = err_of(Persona::load(&p, &world));
    assert!(e.contains("ann.toml:5") && e.contains("HH:MM"), "{e}");
}

#[test]
fn scenario_unknown_agent_and_unknown_field() {
    let e = scenario_error("name = \"bad\"\n[[knowledge]]\nagent = \"Zed\"\ntext = \"x\"\n");
    assert!(
        e.contains("bad.toml:3") && e.contains("unknown agent \"Zed\"") && e.contains("Ann"),
        "{e}"
    );
    let e = scenario_error("name = \"bad\"\ncolour = 1\n");
    assert!(e.contains("bad.toml:2") && e.contains("colour"), "{e}");
}

/// A map that is not UTF-8 used to be reported as "not found".
#[test]
fn a_map_that_is_not_utf8_says_so() {
    let d = tiny();
    std::fs::write(d.path().join("map.txt"), b"#####\n#a\xff\xfe#\n#####\n").expect("write");
    let e = err_of(World::load(d.path()));
    assert!(
        e.contains("map.txt") && e.contains("not UTF-8") && !e.contains("not found"),
        "{e}"
    );
}
