// zh/en strings: loaded from i18n/<lang>.json; no UI text lives in the scripts.
"use strict";
const I18N = (() => {
  const tables = {};
  let lang = localStorage.getItem("caredge.lang") || ((navigator.language || "en").startsWith("zh") ? "zh" : "en");

  async function load() {
    for (const code of ["en", "zh"]) {
      const response = await fetch(`/console/static/i18n/${code}.json`);
      tables[code] = await response.json();
    }
  }

  function t(key, params) {
    const text = (tables[lang] && tables[lang][key]) || (tables.en && tables.en[key]) || key;
    return text.replace(/\{(\w+)\}/g, (_, name) => (params && name in params ? params[name] : `{${name}}`));
  }

  function apply(root) {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const element of (root || document).querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
  }

  function set(code) {
    lang = code;
    localStorage.setItem("caredge.lang", code);
  }

  return { load, t, apply, set, get lang() { return lang; } };
})();
