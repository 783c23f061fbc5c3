// The inbox demo: a customer's list and unread badge, live over Server-Sent Events.
// The page gets its token as ?token= (a shop's page would fetch one from its own backend, which asks
// POST /api/v1/customers/{id}/inbox-token/). Items are shown with textContent only: never as HTML.
(function () {
  "use strict";
  const token = new URLSearchParams(window.location.search).get("token") || "";
  const list = document.getElementById("items");
  const badge = document.getElementById("badge");
  const state = document.getElementById("state");
  const empty = document.getElementById("empty");
  const shown = new Set();

  function call(path, options) {
    const headers = Object.assign({ Authorization: "Bearer " + token }, (options && options.headers) || {});
    return fetch(path, Object.assign({}, options, { headers: headers })).then(function (answer) {
      if (!answer.ok) { throw new Error(path + ": " + answer.status); }
      return answer.json();
    });
  }

  function setCounts(counts) {
    badge.textContent = String(counts.unread);
    badge.dataset.unread = String(counts.unread);
  }

  function mark(ids, as) {
    return call("/inbox/mark/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(ids ? { ids: ids, as: as } : { all: true, as: as }),
    }).then(function () {
      list.querySelectorAll("li").forEach(function (row) {
        if (!ids || ids.indexOf(Number(row.dataset.id)) >= 0) {
          if (as === "read") { row.classList.remove("unread"); }
          if (as === "archived") { row.remove(); }
        }
      });
    });
  }

  function row(item) {
    const li = document.createElement("li");
    li.dataset.id = String(item.id);
    if (!item.read_at) { li.classList.add("unread"); }
    const subject = document.createElement("span");
    subject.className = "subject";
    subject.textContent = item.subject || "(no subject)";
    const body = document.createElement("span");
    body.className = "body";
    body.textContent = item.body;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = new Date(item.created_at).toLocaleString();
    const read = document.createElement("button");
    read.type = "button";
    read.textContent = "Read";
    read.addEventListener("click", function () { mark([item.id], "read"); });
    const archive = document.createElement("button");
    archive.type = "button";
    archive.textContent = "Archive";
    archive.addEventListener("click", function () { mark([item.id], "archived"); });
    li.append(subject, body, meta, read, archive);
    return li;
  }

  function show(item, atTop) {
    if (shown.has(item.id)) { return; }
    shown.add(item.id);
    empty.hidden = true;
    if (atTop) { list.prepend(row(item)); } else { list.append(row(item)); }
  }

  document.getElementById("read-all").addEventListener("click", function () { mark(null, "read"); });

  call("/inbox/?page_size=50").then(function (page) {
    page.results.forEach(function (item) { show(item, false); });
  }).catch(function (error) { state.textContent = "could not load the inbox (" + error.message + ")"; });

  const stream = new EventSource("/inbox/stream/?token=" + encodeURIComponent(token));
  stream.addEventListener("open", function () { state.textContent = "live"; });
  stream.addEventListener("error", function () { state.textContent = "reconnecting…"; });
  stream.addEventListener("notification", function (event) { show(JSON.parse(event.data), true); });
  stream.addEventListener("counts", function (event) { setCounts(JSON.parse(event.data)); });
})();
