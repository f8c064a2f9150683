//! The web console on a 1366×768 screen and on a tablet, and with only the
//! keyboard, in Debian's headless Chromium (tests/browser/layout.mjs and
//! keyboard.mjs). Screenshots land in target/console-screenshots/layout/
//! and keyboard/.

use pylantir_tests::browser::{Browser, ConsoleSite};

#[test]
fn console_fits_a_1366x768_screen_without_sideways_scrolling_and_its_controls_work() {
    let site = ConsoleSite::start();
    site.run_scenario("layout", Browser::Chromium, &[("LAYOUT", "desktop")]);
}

#[test]
fn console_fits_a_portrait_tablet_without_sideways_scrolling_and_its_controls_work_by_tap() {
    let site = ConsoleSite::start();
    site.run_scenario("layout", Browser::Chromium, &[("LAYOUT", "tablet")]);
}

#[test]
fn console_fits_a_landscape_tablet_without_sideways_scrolling_and_its_controls_work_by_tap() {
    let site = ConsoleSite::start();
    site.run_scenario(
        "layout",
        Browser::Chromium,
        &[("LAYOUT", "tablet-landscape")],
    );
}

#[test]
fn console_is_usable_with_only_the_keyboard_and_shows_where_the_focus_is() {
    let site = ConsoleSite::start();
    site.run_scenario("keyboard", Browser::Chromium, &[]);
}
