// The jobs page's forms. A refused form is scrolled into view, its heading and errors shown (without JavaScript
// the field in error has autofocus). The analyze form: choosing a known catalog hides the new catalog's folder and
// fills in the catalog's source folders (unless other ones were typed); "New catalog…" shows the folder field.
// Without JavaScript both fields show, and the server does the same (a known catalog with no source typed
// analyzes its stored ones).
(function () {
  "use strict";
  const failed = document.querySelector(".job-form.failed");
  if (failed) failed.scrollIntoView({ block: "start" });
  document.querySelectorAll("select[data-catalog-choice]").forEach(function (select) {
    const form = select.form;
    const fresh = form.querySelector("[data-new-catalog]");
    const sources = form.elements.source_directories;
    const stored = function () {
      const option = select.selectedOptions[0];
      return option && option.dataset.sources ? option.dataset.sources : "";
    };
    let filled = stored();
    const choose = function () {  // a hidden folder field is not sent: the chosen catalog is the one analyzed
      fresh.hidden = select.value !== "";
      form.elements.catalog_path.disabled = fresh.hidden;
    };
    choose();
    select.addEventListener("change", function () {
      choose();
      if (sources.value.trim() === "" || sources.value === filled) sources.value = stored();
      filled = stored();
      if (!fresh.hidden) form.elements.catalog_path.focus();
    });
  });
})();
