/** The part of `@lhncbc/ucum-lhc` (which ships no types) that fhir/search/ucum.ts uses. */
declare module '@lhncbc/ucum-lhc' {
  export const UcumLhcUtils: {
    getInstance(): {
      convertToBaseUnits(
        unit: string,
        value: number,
      ): { status: string; magnitude?: number; unitToExp?: Record<string, number>; fromUnitIsSpecial?: boolean };
    };
  };
}
