#include "orchard/serve/index_page.h"

namespace orchard {

const std::string& IndexPage() {
  static const std::string page = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>orchard: which fruit is it?</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 640px; margin: 2em auto; color: #222; }
  #drop { border: 3px dashed #8a8; border-radius: 12px; padding: 2.5em; text-align: center; cursor: pointer; }
  #drop.over { background: #eef7ee; }
  #preview { max-width: 224px; max-height: 224px; display: none; margin: 1em auto; }
  #label { font-size: 2em; font-weight: bold; margin: 0.5em 0; }
  .bar { background: #6a6; height: 1em; }
  table { width: 100%; border-collapse: collapse; }
  td { padding: 0.2em; }
  td.p { width: 55%; }
  #error { color: #b00; }
</style>
</head>
<body>
<h1>Which fruit is it?</h1>
<div id="drop">Drop a photo here, or click to choose one (JPEG, PNG or WebP).
  <input id="file" type="file" accept="image/jpeg,image/png,image/webp" hidden>
</div>
<img id="preview" alt="the photo">
<div id="label"></div>
<table id="topk"></table>
<p id="error"></p>
<script>
"use strict";
const drop = document.getElementById("drop");
const input = document.getElementById("file");
const show = (id, text) => { document.getElementById(id).textContent = text; };

async function predict(file) {
  show("label", "…"); show("error", ""); document.getElementById("topk").replaceChildren();
  const preview = document.getElementById("preview");
  preview.src = URL.createObjectURL(file);
  preview.style.display = "block";
  try {
    const response = await fetch("v1/predict?top_k=5", { method: "POST", body: file });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || ("HTTP " + response.status));
    show("label", answer.unknown ? "unknown fruit (none of the bundle's labels)" : answer.label);
    const table = document.getElementById("topk");
    for (const { label, probability } of answer.top_k) {
      const row = table.insertRow();
      row.insertCell().textContent = label;
      const cell = row.insertCell();
      cell.className = "p";
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = (100 * probability).toFixed(1) + "%";
      cell.appendChild(bar);
      row.insertCell().textContent = (100 * probability).toFixed(1) + "%";
    }
  } catch (error) {
    show("label", "");
    show("error", String(error.message || error));
  }
}

drop.addEventListener("click", () => input.click());
input.addEventListener("change", () => { if (input.files.length) predict(input.files[0]); });
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) predict(e.dataTransfer.files[0]);
});
document.body.setAttribute("data-ready", "true");
</script>
</body>
</html>
)html";
  return page;
}

}  // namespace orchard
