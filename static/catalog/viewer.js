// The grid's full-screen viewer: a click on a tile opens its largest thumbnail over the page; ← and → step through
// the tiles of the page, Esc (or ×) closes, Enter opens the asset's page. Without JavaScript a tile is a plain link.
(function () {
  const viewer = document.getElementById("viewer");
  if (!viewer) return;
  const tiles = Array.from(document.querySelectorAll("a.tile[data-viewer]")).filter((tile) => tile.dataset.viewer);
  const image = viewer.querySelector("img");
  const name = viewer.querySelector(".viewer-name");
  const details = viewer.querySelector(".viewer-details");
  let index = -1;

  function show(at) {
    if (at < 0 || at >= tiles.length) return;
    index = at;
    const tile = tiles[index];
    image.src = tile.dataset.viewer;
    image.alt = tile.dataset.name;
    name.textContent = tile.dataset.name + " (" + (index + 1) + " of " + tiles.length + ")";
    details.href = tile.href;
    viewer.querySelector(".viewer-prev").disabled = index === 0;
    viewer.querySelector(".viewer-next").disabled = index === tiles.length - 1;
    viewer.hidden = false;
    document.body.classList.add("viewing");
  }

  function close() {
    viewer.hidden = true;
    document.body.classList.remove("viewing");
    if (index >= 0) tiles[index].focus();
  }

  tiles.forEach((tile, at) => {
    tile.addEventListener("click", (event) => {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return; // a new tab: the page
      event.preventDefault();
      show(at);
    });
  });
  viewer.querySelector("[data-viewer-close]").addEventListener("click", close);
  viewer.querySelectorAll("[data-viewer-step]").forEach((button) => {
    button.addEventListener("click", () => show(index + Number(button.dataset.viewerStep)));
  });
  viewer.addEventListener("click", (event) => { if (event.target === viewer) close(); });
  document.addEventListener("keydown", (event) => {
    if (viewer.hidden) return;
    if (event.key === "Escape") close();
    else if (event.key === "ArrowRight") show(index + 1);
    else if (event.key === "ArrowLeft") show(index - 1);
    else if (event.key === "Enter") window.location = details.href;
    else return;
    event.preventDefault();
  });
})();
