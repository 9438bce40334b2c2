/* Workflows editor: the {a} piped-text picker, copy buttons, removable rows. No build step. */
(function () {
  "use strict";

  function closeMenus() {
    document.querySelectorAll(".picker-menu").forEach(function (menu) { menu.remove(); });
    document.querySelectorAll('.picker-button[aria-expanded="true"]').forEach(function (button) {
      button.setAttribute("aria-expanded", "false");
    });
  }

  function insertAtCursor(input, text) {
    var start = typeof input.selectionStart === "number" ? input.selectionStart : input.value.length;
    var end = typeof input.selectionEnd === "number" ? input.selectionEnd : start;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    var position = start + text.length;
    input.focus();
    try { input.setSelectionRange(position, position); } catch (error) { /* not a text input */ }
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function openMenu(button) {
    var source = document.getElementById(button.dataset.picker);
    var input = document.getElementById(button.dataset.target);
    if (!source || !input) { return; }
    var groups = JSON.parse(source.textContent);
    var menu = document.createElement("div");
    menu.className = "picker-menu";
    menu.setAttribute("role", "menu");
    menu.setAttribute("aria-label", "Insert piped text");
    groups.forEach(function (group) {
      var heading = document.createElement("h5");
      heading.textContent = group.label;
      menu.appendChild(heading);
      if (!group.fields.length) {
        var none = document.createElement("p");
        none.className = "muted small";
        none.textContent = "No fields yet.";
        menu.appendChild(none);
      }
      group.fields.forEach(function (field) {
        var item = document.createElement("button");
        item.type = "button";
        item.setAttribute("role", "menuitem");
        item.textContent = field.label;
        item.title = field.token;
        item.addEventListener("click", function () {
          insertAtCursor(input, field.token);
          closeMenus();
        });
        menu.appendChild(item);
      });
    });
    button.parentElement.appendChild(menu);
    button.setAttribute("aria-expanded", "true");
    var first = menu.querySelector("[role=menuitem]");
    if (first) { first.focus(); }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".picker-button");
    if (button) {
      event.preventDefault();
      var open = button.getAttribute("aria-expanded") === "true";
      closeMenus();
      if (!open) { openMenu(button); }
      return;
    }
    if (!event.target.closest(".picker-menu")) { closeMenus(); }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var field = document.getElementById(copy.dataset.copy);
      field.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value).catch(function () {}); }
      else { document.execCommand("copy"); }
      copy.textContent = "Copied";
      setTimeout(function () { copy.textContent = "Copy"; }, 1500);
    }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var row = remove.closest(".wf-line");
      row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      row.hidden = true;
    }
  });

  document.addEventListener("keydown", function (event) {
    var menu = document.querySelector(".picker-menu");
    if (!menu) { return; }
    if (event.key === "Escape") {
      var button = menu.parentElement.querySelector(".picker-button");
      closeMenus();
      if (button) { button.focus(); }
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var items = Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
      var index = items.indexOf(document.activeElement);
      var next = event.key === "ArrowDown" ? index + 1 : index - 1;
      if (items.length) {
        items[(next + items.length) % items.length].focus();
        event.preventDefault();
      }
    }
  });
})();
