// jstat ships no type declarations; only the Student t quantile is used (stats.ts).
declare module 'jstat' {
  const jstat: { jStat: { studentt: { inv(p: number, dof: number): number; cdf(x: number, dof: number): number } } };
  export default jstat;
}
