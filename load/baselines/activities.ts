/** The baselines' steps: they do nothing, so only Temporal's own cost is measured. */
export interface BaselineActivities {
  noop(): Promise<void>;
}

export const baselineActivities: BaselineActivities = {
  async noop() {},
};
