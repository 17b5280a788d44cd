// The admin's two-box selector (SelectFilter2.js) draws its search icons as spans with an
// aria-label and no role, which ARIA does not allow (axe-core: aria-prohibited-attr); they are
// images, so they get that role, as the admin draws them.
"use strict";

(() => {
  const fix = () => {
    document.querySelectorAll(".help-tooltip[aria-label]:not([role])").forEach((icon) => {
      icon.setAttribute("role", "img");
    });
  };
  new MutationObserver(fix).observe(document.documentElement, { childList: true, subtree: true });
  fix();
})();
