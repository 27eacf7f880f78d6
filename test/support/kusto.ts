/**
 * Microsoft's own Kusto language service (npm @kusto/language-service-next) with the Application
 * Insights tables the app's workbook and alerts query, so that a query with a syntax error, an
 * unknown table or an unknown column fails a test instead of an Azure Monitor page.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('@kusto/language-service-next/bridge.min.js');
require('@kusto/language-service-next/Kusto.Language.Bridge.min.js');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const K = (globalThis as any).Kusto.Language;

/** Columns every Application Insights telemetry table has (the classic, Application Insights-based schema). */
const COMMON =
  'timestamp:datetime, itemType:string, customDimensions:dynamic, operation_Name:string, operation_Id:string, operation_ParentId:string, ' +
  'operation_SyntheticSource:string, session_Id:string, user_Id:string, user_AuthenticatedId:string, user_AccountId:string, ' +
  'application_Version:string, client_Type:string, client_Model:string, client_OS:string, client_IP:string, client_City:string, ' +
  'client_StateOrProvince:string, client_CountryOrRegion:string, client_Browser:string, cloud_RoleName:string, cloud_RoleInstance:string, ' +
  'appId:string, appName:string, iKey:string, sdkVersion:string, itemId:string, itemCount:int';

export const APP_INSIGHTS_TABLES: Record<string, string> = {
  customEvents: `name:string, customMeasurements:dynamic, ${COMMON}`,
  customMetrics: `name:string, value:real, valueCount:int, valueSum:real, valueMin:real, valueMax:real, valueStdDev:real, ${COMMON}`,
  traces: `message:string, severityLevel:int, customMeasurements:dynamic, ${COMMON}`,
  exceptions:
    'problemId:string, handledAt:string, type:string, message:string, assembly:string, method:string, outerType:string, outerMessage:string, ' +
    'outerAssembly:string, outerMethod:string, innermostType:string, innermostMessage:string, innermostAssembly:string, innermostMethod:string, ' +
    `severityLevel:int, details:dynamic, customMeasurements:dynamic, ${COMMON}`,
};

const tables = Object.entries(APP_INSIGHTS_TABLES).map(
  ([name, columns]) => new K.Symbols.TableSymbol.$ctor7(name, `(${columns})`, null),
);
const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.$ctor2('appinsights', null, tables));

/** The language service's errors for a query (syntax, unknown names, types), empty when it is sound. */
export function kqlProblems(query: string): string[] {
  const diagnostics = K.KustoCode.ParseAndAnalyze(query, globals).GetDiagnostics();
  const out: string[] = [];
  for (let i = 0; i < diagnostics.Count; i++) {
    const d = diagnostics.getItem(i);
    if (String(d.Severity) === 'Error') out.push(`${d.Code} at ${d.Start}: ${d.Message}`);
  }
  return out;
}
