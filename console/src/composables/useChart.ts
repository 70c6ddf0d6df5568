// The one way a page draws an ECharts chart: created on mount, resized with its box, disposed
// on unmount; the page only sets options.
import * as echarts from "echarts";
import { onBeforeUnmount, onMounted, shallowRef, type Ref } from "vue";

export type ChartOption = echarts.EChartsOption;

export function useChart(el: Ref<HTMLElement | null | undefined>) {
  const chart = shallowRef<echarts.ECharts | null>(null);
  let observer: ResizeObserver | null = null;
  let pending: ChartOption | null = null;

  onMounted(() => {
    if (!el.value) return;
    chart.value = echarts.init(el.value);
    observer = new ResizeObserver(() => chart.value?.resize());
    observer.observe(el.value);
    if (pending) chart.value.setOption(pending, true);
  });

  onBeforeUnmount(() => {
    observer?.disconnect();
    chart.value?.dispose();
    chart.value = null;
  });

  function setOption(option: ChartOption): void {
    if (chart.value) chart.value.setOption(option, true);
    else pending = option;
  }

  return { chart, setOption };
}

/** Register a GeoJSON map under `name` (ECharts draws it itself: no tiles from the internet). */
export function registerMap(name: string, geoJson: object): void {
  echarts.registerMap(name, geoJson as Parameters<typeof echarts.registerMap>[1]);
}
