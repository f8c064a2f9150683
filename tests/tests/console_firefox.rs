//! The web console's core scenarios (tests/browser/read_user.mjs and
//! write_user.mjs, as in console.rs) in Debian's headless Firefox ESR, driven
//! over WebDriver BiDi by puppeteer-core. Screenshots land in
//! target/console-screenshots/firefox/.

use pylantir_tests::browser::{Browser, ConsoleSite};

#[test]
fn console_in_firefox_read_user_sees_and_filters_today_without_edit_controls_and_relogs_after_expiry(
) {
    let site = ConsoleSite::start();
    site.run_scenario("read_user", Browser::Firefox, &[]);
}

#[test]
fn console_in_firefox_write_user_adds_edits_and_cancels_an_item() {
    let site = ConsoleSite::start();
    site.run_scenario("write_user", Browser::Firefox, &[]);
}
