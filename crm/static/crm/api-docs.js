// The API docs page (Swagger UI): names for the controls Swagger UI draws without one, and
// keyboard access to its scrolling code samples, added as it draws them (axe-core: button-name,
// select-name, scrollable-region-focusable). Swagger UI itself is used as the package ships it.
"use strict";

(() => {
  const root = document.getElementById("swagger-ui");
  if (!root) return;

  const name = (element, label) => {
    if (!element.hasAttribute("aria-label") && !element.textContent.trim()) {
      element.setAttribute("aria-label", label);
    }
  };

  const fix = () => {
    root.querySelectorAll("button.model-box-control").forEach((button) => name(button, "Show or hide this schema"));
    root.querySelectorAll("select.examples-select-element:not([aria-label])").forEach((select) => {
      select.setAttribute("aria-label", "Example");
    });
    root.querySelectorAll(".parameters-col_description select:not([aria-label])").forEach((select) => {
      const row = select.closest("tr[data-param-name]");
      select.setAttribute("aria-label", row ? `Value of ${row.dataset.paramName}` : "Value");
    });
    root.querySelectorAll(".highlight-code > .microlight:not([tabindex])").forEach((code) => {
      code.setAttribute("tabindex", "0");
    });
  };

  new MutationObserver(fix).observe(root, { childList: true, subtree: true });
  fix();
})();
