// Names the pages show for codes: categories (事项目录) and areas, loaded once per sign-in.
import { defineStore } from "pinia";
import { ref } from "vue";
import { listCategories } from "@/api/cases";
import { exportAreas, listDepartments, type AreaCollection } from "@/api/grid";

export const useDictStore = defineStore("dicts", () => {
  const categories = ref<Record<string, string>>({});
  const areas = ref<Record<string, string>>({});
  const departments = ref<Record<string, string>>({});
  const geo = ref<AreaCollection | null>(null);
  let loading: Promise<void> | null = null;

  function load(): Promise<void> {
    loading ??= Promise.all([
      listCategories().then((items) => {
        categories.value = Object.fromEntries(items.map((c) => [c.code, c.name]));
      }),
      listDepartments().then((page) => {
        departments.value = Object.fromEntries(page.items.map((d) => [d.code, d.name]));
      }),
      exportAreas().then((collection) => {
        geo.value = collection;
        areas.value = Object.fromEntries(
          collection.features.map((f) => [f.properties.path, f.properties.name]),
        );
      }),
    ])
      .then(() => undefined)
      .catch(() => {
        loading = null;
      });
    return loading;
  }

  function areaName(path: string | null | undefined): string {
    if (!path) return "";
    return areas.value[path] ?? path.split(".").pop() ?? path;
  }

  function categoryName(code: string | null | undefined): string {
    if (!code) return "";
    return categories.value[code] ?? code;
  }

  function departmentName(code: string | null | undefined): string {
    if (!code) return "";
    return departments.value[code] ?? code;
  }

  return { categories, areas, departments, geo, load, areaName, categoryName, departmentName };
});
