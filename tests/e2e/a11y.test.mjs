// checkA11y itself: it must fail on a page with a known serious violation, pass on a clean
// one, and work under a Content-Security-Policy that forbids inline scripts, as Palabre's does.
// Without these, a check that never runs (or never sees anything) would pass every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, checkA11y, PHONE } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

// The policy of Palabre's pages as far as scripts go: no inline script, no eval.
const csp = `<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self'; style-src 'unsafe-inline'">`;
const page = (body) => `<!doctype html><html lang="en"><head><meta charset="utf-8">${csp}
<meta name="viewport" content="width=device-width, initial-scale=1"><title>a11y fixture</title></head>
<body><main><h1>Fixture</h1>${body}</main></body></html>`;

async function withPage(html, fn) {
  const context = await browser.newContext(PHONE);
  try {
    const p = await context.newPage();
    await p.setContent(html);
    return await fn(p);
  } finally {
    await context.close();
  }
}

test('a clean page passes, under a policy that forbids inline scripts', async () => {
  await withPage(page('<p>Readable text.</p><button type="button">Next item</button>'), async (p) => {
    // The policy is in force: an inline script is refused (so addScriptTag would not do)...
    await assert.rejects(p.addScriptTag({ content: 'window.inlineRan = true' }), /Content Security Policy/);
    assert.equal(await p.evaluate(() => window.inlineRan), undefined);
    // ...and axe runs all the same.
    const violations = await checkA11y(p, 'clean fixture');
    assert.ok(Array.isArray(violations));
    assert.equal(await p.evaluate(() => typeof window.axe.run), 'function');
  });
});

test('an image button without a name fails, with the rule, impact, selector and help URL', async () => {
  const html = page('<button type="button" id="nameless"><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt=""></button>');
  await withPage(html, async (p) => {
    await assert.rejects(checkA11y(p, 'nameless button fixture'), (e) => {
      assert.match(e.message, /serious or critical accessibility violation/);
      assert.match(e.message, /nameless button fixture at 360×740/);
      assert.match(e.message, /button-name \[critical\]/);
      assert.match(e.message, /#nameless/);
      assert.match(e.message, /https:\/\/dequeuniversity\.com\/rules\/axe\/[\d.]+\/button-name/);
      return true;
    });
  });
});

test('low-contrast text fails as serious', async () => {
  await withPage(page('<p id="faint" style="color:#bbb;background:#fff">Barely there.</p>'), async (p) => {
    await assert.rejects(checkA11y(p, 'faint text fixture'), /color-contrast \[serious\][\s\S]*#faint/);
  });
});

test('a touch target under 24 px at phone size fails as serious (WCAG 2.2)', async () => {
  const tiny = 'style="width:12px;height:12px;padding:0;border:1px solid #000;background:#fff;color:#000;font-size:8px"';
  await withPage(page(`<p><button type="button" id="a" ${tiny}>A</button><button type="button" id="b" ${tiny}>B</button></p>`), async (p) => {
    await assert.rejects(checkA11y(p, 'tiny targets fixture'), /target-size \[serious\][\s\S]*#a/);
  });
});
